"""Every failed precondition of the write ports: a state, and a write that it refuses.

Each builder below stores what makes its write fail and returns a `Refusal`; `@refusal`
registers it under its port. The tests in `test_preconditions.py` commit each write and check
the conflict, its `on_conflict` replacement, and that nothing of the unit of work was applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tenantry.domain.errors import TenantryError
from tenantry.domain.ids import new_id
from tenantry.domain.model import KeyState, MembershipStatus, Organisation, OrgStatus
from tenantry.domain.roles import OrgRole
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import (
    AT,
    make_assignment,
    make_membership,
    make_one_time_token,
    make_org,
    make_refresh_token,
    make_role,
    make_team,
    make_team_member,
    make_user,
    minutes,
)
from tests.contract.steps import (
    committed,
    given_assignment,
    given_entry,
    given_key,
    given_member,
    given_org,
    given_role,
    given_session,
    given_team,
    given_team_member,
    given_user,
)

RefusedWrite = Callable[[UnitOfWork, TenantryError | None], None]


@dataclass(frozen=True)
class Refusal:
    """`write` fails its precondition with the `Conflict` `code`; it passes its second
    argument on as the write's `on_conflict`, if the write takes one."""

    code: str
    write: RefusedWrite
    org_id: str | None = None
    user_id: str | None = None


Build = Callable[[Store], Refusal]


@dataclass(frozen=True)
class Case:
    port: str
    build: Build
    takes_on_conflict: bool

    @property
    def name(self) -> str:
        return f"{self.port}-{self.build.__name__}"


REFUSALS: list[Case] = []


def refusal(port: str, *, takes_on_conflict: bool = True) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        REFUSALS.append(Case(port, build, takes_on_conflict))
        return build

    return register


# --- users ---------------------------------------------------------------------------------


@refusal("users", takes_on_conflict=False)
def a_second_user_with_the_same_email(store: Store) -> Refusal:
    taken = given_user(store)
    return Refusal(
        "email_taken",
        lambda uow, _: uow.users.add(make_user(email=taken.email)),
    )


@refusal("users")
def requiring_a_user_that_does_not_exist(store: Store) -> Refusal:
    missing = new_id("usr")
    return Refusal(
        "user_not_found", lambda uow, mine: uow.users.require_exists(missing, on_conflict=mine)
    )


@refusal("users")
def a_password_change_checked_against_an_old_hash(store: Store) -> Refusal:
    user = given_user(store, password_hash="hash-1")
    return Refusal(
        "account_changed",
        lambda uow, mine: uow.users.set_password_hash(
            user.id, "hash-2", expected_hash="hash-0", on_conflict=mine
        ),
    )


@refusal("users")
def a_password_change_of_a_missing_user(store: Store) -> Refusal:
    missing = new_id("usr")
    return Refusal(
        "account_changed",
        lambda uow, mine: uow.users.set_password_hash(
            missing, "hash-2", expected_hash="hash-0", on_conflict=mine
        ),
    )


@refusal("users", takes_on_conflict=False)
def verifying_a_missing_user(store: Store) -> Refusal:
    missing = new_id("usr")
    return Refusal(
        "user_not_found",
        lambda uow, _: uow.users.mark_verified(missing, AT),
    )


@refusal("users")
def bumping_the_session_epoch_from_a_stale_epoch(store: Store) -> Refusal:
    user = given_user(store)
    committed(store, lambda uow: uow.users.bump_session_epoch(user.id, expected=0))
    return Refusal(
        "account_changed",
        lambda uow, mine: uow.users.bump_session_epoch(user.id, expected=0, on_conflict=mine),
    )


# --- one-time tokens and refresh tokens ----------------------------------------------------


@refusal("one_time_tokens")
def using_a_one_time_token_twice(store: Store) -> Refusal:
    token = make_one_time_token(given_user(store))
    committed(store, lambda uow: uow.one_time_tokens.add(token))
    committed(store, lambda uow: uow.one_time_tokens.mark_used(token.id, AT))
    return Refusal(
        "token_used",
        lambda uow, mine: uow.one_time_tokens.mark_used(token.id, AT, on_conflict=mine),
    )


@refusal("one_time_tokens")
def using_a_missing_one_time_token(store: Store) -> Refusal:
    missing = new_id("ott")
    return Refusal(
        "token_used",
        lambda uow, mine: uow.one_time_tokens.mark_used(missing, AT, on_conflict=mine),
    )


@refusal("refresh_tokens")
def rotating_a_refresh_token_twice(store: Store) -> Refusal:
    token = make_refresh_token(given_session(store))
    committed(store, lambda uow: uow.refresh_tokens.add(token))
    committed(store, lambda uow: uow.refresh_tokens.mark_used(token.id, AT))
    return Refusal(
        "refresh_token_used",
        lambda uow, mine: uow.refresh_tokens.mark_used(token.id, AT, on_conflict=mine),
    )


@refusal("refresh_tokens")
def rotating_a_missing_refresh_token(store: Store) -> Refusal:
    missing = new_id("rt")
    return Refusal(
        "refresh_token_used",
        lambda uow, mine: uow.refresh_tokens.mark_used(missing, AT, on_conflict=mine),
    )


# --- sessions ------------------------------------------------------------------------------


@refusal("sessions")
def using_a_revoked_session(store: Store) -> Refusal:
    session = given_session(store)
    committed(store, lambda uow: uow.sessions.revoke(session.id, at=AT, reason="logout"))
    return Refusal(
        "session_revoked",
        lambda uow, mine: uow.sessions.record_use(
            session.id, at=AT + minutes(1), org_id=None, on_conflict=mine
        ),
    )


@refusal("sessions")
def using_a_missing_session(store: Store) -> Refusal:
    missing = new_id("ses")
    return Refusal(
        "session_revoked",
        lambda uow, mine: uow.sessions.record_use(missing, at=AT, org_id=None, on_conflict=mine),
    )


# --- organisations -------------------------------------------------------------------------


@refusal("organisations", takes_on_conflict=False)
def a_second_organisation_with_the_same_slug(store: Store) -> Refusal:
    return _slug_taken_by(given_org(store))


@refusal("organisations", takes_on_conflict=False)
def the_slug_of_a_deleted_organisation(store: Store) -> Refusal:
    return _slug_taken_by(given_org(store, status=OrgStatus.DELETED, deleted_at=AT))


def _slug_taken_by(taken: Organisation) -> Refusal:
    second = make_org(slug=taken.slug)
    return Refusal(
        "slug_taken",
        lambda uow, _: uow.organisations.add(second),
        org_id=second.id,
    )


@refusal("organisations")
def updating_an_organisation_from_a_stale_version(store: Store) -> Refusal:
    org = given_org(store)
    changed = replace(org, name="Changed", version=1)
    committed(
        store, lambda uow: uow.organisations.update(changed, expected_version=0), org_id=org.id
    )
    stale = replace(org, name="Stale", version=1)
    return Refusal(
        "organisation_changed",
        lambda uow, mine: uow.organisations.update(stale, expected_version=0, on_conflict=mine),
        org_id=org.id,
    )


@refusal("organisations")
def updating_a_missing_organisation(store: Store) -> Refusal:
    missing = make_org(version=1)
    return Refusal(
        "organisation_changed",
        lambda uow, mine: uow.organisations.update(missing, expected_version=0, on_conflict=mine),
        org_id=missing.id,
    )


@refusal("organisations")
def bumping_the_authz_epoch_from_a_stale_epoch(store: Store) -> Refusal:
    org = given_org(store)
    committed(
        store, lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=0), org_id=org.id
    )
    return Refusal(
        "access_changed",
        lambda uow, mine: uow.organisations.bump_authz_epoch(org.id, expected=0, on_conflict=mine),
        org_id=org.id,
    )


@refusal("organisations")
def bumping_the_authz_epoch_of_a_missing_organisation(store: Store) -> Refusal:
    missing = new_id("org")
    return Refusal(
        "access_changed",
        lambda uow, mine: uow.organisations.bump_authz_epoch(missing, expected=0, on_conflict=mine),
        org_id=missing,
    )


# --- memberships ---------------------------------------------------------------------------


@refusal("memberships", takes_on_conflict=False)
def adding_a_member_twice(store: Store) -> Refusal:
    return _already_a_member(store, MembershipStatus.ACTIVE)


@refusal("memberships", takes_on_conflict=False)
def adding_back_a_member_whose_membership_ended(store: Store) -> Refusal:
    return _already_a_member(store, MembershipStatus.ENDED)


def _already_a_member(store: Store, status: MembershipStatus) -> Refusal:
    org, user = given_org(store), given_user(store)
    given_member(store, org, user, status=status)
    again = make_membership(org, user, joined_at=AT + minutes(5))
    return Refusal(
        "already_member",
        lambda uow, _: uow.memberships.add(again),
        org_id=org.id,
    )


@refusal("memberships")
def requiring_an_ended_membership_to_be_active(store: Store) -> Refusal:
    org = given_org(store)
    ended = given_member(store, org, status=MembershipStatus.ENDED)
    return Refusal(
        "membership_changed",
        lambda uow, mine: uow.memberships.require_active(org.id, ended.user_id, on_conflict=mine),
        org_id=org.id,
    )


@refusal("memberships")
def requiring_a_missing_membership_to_be_active(store: Store) -> Refusal:
    org, stranger = given_org(store), given_user(store)
    return Refusal(
        "membership_changed",
        lambda uow, mine: uow.memberships.require_active(org.id, stranger.id, on_conflict=mine),
        org_id=org.id,
    )


@refusal("memberships")
def updating_a_membership_that_ended(store: Store) -> Refusal:
    org = given_org(store)
    ended = given_member(store, org, status=MembershipStatus.ENDED, ended_at=AT)
    promoted = replace(ended, org_role=OrgRole.ADMIN, status=MembershipStatus.ACTIVE)
    return Refusal(
        "membership_changed",
        lambda uow, mine: uow.memberships.update(promoted, on_conflict=mine),
        org_id=org.id,
    )


@refusal("memberships")
def updating_a_missing_membership(store: Store) -> Refusal:
    org = given_org(store)
    missing = make_membership(org, make_user(), org_role=OrgRole.ADMIN)
    return Refusal(
        "membership_changed",
        lambda uow, mine: uow.memberships.update(missing, on_conflict=mine),
        org_id=org.id,
    )


@refusal("memberships", takes_on_conflict=False)
def rejoining_an_active_membership(store: Store) -> Refusal:
    org = given_org(store)
    member = given_member(store, org, org_role=OrgRole.ADMIN)
    again = replace(member, org_role=OrgRole.MEMBER, joined_at=AT + minutes(5))
    return Refusal(
        "membership_changed",
        lambda uow, _: uow.memberships.rejoin(again),
        org_id=org.id,
    )


@refusal("memberships", takes_on_conflict=False)
def rejoining_a_missing_membership(store: Store) -> Refusal:
    org, stranger = given_org(store), given_user(store)
    return Refusal(
        "membership_changed",
        lambda uow, _: uow.memberships.rejoin(make_membership(org, stranger)),
        org_id=org.id,
    )


# --- roles and role assignments ------------------------------------------------------------


@refusal("roles", takes_on_conflict=False)
def a_second_role_with_the_same_name_in_another_case(store: Store) -> Refusal:
    org = given_org(store)
    given_role(store, org, name="Site editors")
    return Refusal(
        "role_name_taken",
        lambda uow, _: uow.roles.add(make_role(org, name="SITE Editors")),
        org_id=org.id,
    )


@refusal("roles")
def renaming_a_role_to_another_roles_name(store: Store) -> Refusal:
    org = given_org(store)
    given_role(store, org, name="Site editors")
    renamed = replace(given_role(store, org), name="site EDITORS", updated_at=AT + minutes(1))
    return Refusal(
        "role_name_taken",
        lambda uow, mine: uow.roles.update(renamed, on_conflict=mine),
        org_id=org.id,
    )


@refusal("roles")
def updating_a_missing_role(store: Store) -> Refusal:
    org = given_org(store)
    missing = make_role(org, updated_at=AT + minutes(1))
    return Refusal(
        "role_changed",
        lambda uow, mine: uow.roles.update(missing, on_conflict=mine),
        org_id=org.id,
    )


@refusal("roles")
def renaming_a_deleted_role_to_a_taken_name(store: Store) -> Refusal:
    """A role that is gone is `role_changed`, whatever its new name would clash with."""
    org = given_org(store)
    taken = given_role(store, org)
    deleted = given_role(store, org)
    committed(store, lambda uow: uow.roles.delete(org.id, deleted.id), org_id=org.id)
    renamed = replace(deleted, name=taken.name)
    return Refusal(
        "role_changed",
        lambda uow, mine: uow.roles.update(renamed, on_conflict=mine),
        org_id=org.id,
    )


@refusal("roles", takes_on_conflict=False)
def deleting_a_missing_role(store: Store) -> Refusal:
    org = given_org(store)
    missing = new_id("rol")
    return Refusal("role_changed", lambda uow, _: uow.roles.delete(org.id, missing), org_id=org.id)


@refusal("role_assignments", takes_on_conflict=False)
def assigning_a_role_twice(store: Store) -> Refusal:
    org, member = given_org(store), new_id("usr")
    role = given_role(store, org)
    given_assignment(store, org, member, role)
    again = make_assignment(org, member, role, assigned_at=AT + minutes(1))
    return Refusal(
        "role_already_assigned",
        lambda uow, _: uow.role_assignments.add(again),
        org_id=org.id,
    )


@refusal("role_assignments", takes_on_conflict=False)
def removing_a_role_the_member_does_not_hold(store: Store) -> Refusal:
    org, member = given_org(store), new_id("usr")
    held, other = given_role(store, org), given_role(store, org)
    given_assignment(store, org, member, held)
    return Refusal(
        "role_not_assigned",
        lambda uow, _: uow.role_assignments.remove(org.id, member, other.id),
        org_id=org.id,
    )


# --- teams and team memberships ------------------------------------------------------------


@refusal("teams", takes_on_conflict=False)
def a_second_team_with_the_same_name_in_another_case(store: Store) -> Refusal:
    org = given_org(store)
    given_team(store, org, name="Platform")
    return Refusal(
        "team_name_taken",
        lambda uow, _: uow.teams.add(make_team(org, name="PLATFORM")),
        org_id=org.id,
    )


@refusal("teams")
def renaming_a_team_to_another_teams_name(store: Store) -> Refusal:
    org = given_org(store)
    given_team(store, org, name="Platform")
    renamed = replace(given_team(store, org), name="platform")
    return Refusal(
        "team_name_taken",
        lambda uow, mine: uow.teams.update(renamed, on_conflict=mine),
        org_id=org.id,
    )


@refusal("teams")
def updating_a_missing_team(store: Store) -> Refusal:
    org = given_org(store)
    missing = make_team(org)
    return Refusal(
        "team_changed",
        lambda uow, mine: uow.teams.update(missing, on_conflict=mine),
        org_id=org.id,
    )


@refusal("teams", takes_on_conflict=False)
def deleting_a_missing_team(store: Store) -> Refusal:
    org = given_org(store)
    missing = new_id("team")
    return Refusal("team_changed", lambda uow, _: uow.teams.delete(org.id, missing), org_id=org.id)


@refusal("teams", takes_on_conflict=False)
def counting_a_member_into_a_missing_team(store: Store) -> Refusal:
    org = given_org(store)
    missing = new_id("team")
    return Refusal(
        "team_changed",
        lambda uow, _: uow.teams.add_to_member_count(org.id, missing, 1),
        org_id=org.id,
    )


@refusal("team_memberships", takes_on_conflict=False)
def adding_a_team_member_twice(store: Store) -> Refusal:
    team = given_team(store, given_org(store))
    member = given_team_member(store, team)
    again = replace(member, team_role="LEAD", joined_at=AT + minutes(1))
    return Refusal(
        "already_team_member",
        lambda uow, _: uow.team_memberships.add(again),
        org_id=team.org_id,
    )


@refusal("team_memberships", takes_on_conflict=False)
def setting_the_team_role_of_a_non_member(store: Store) -> Refusal:
    team = given_team(store, given_org(store))
    stranger = make_team_member(team)
    return Refusal(
        "not_team_member",
        lambda uow, _: uow.team_memberships.set_role(
            team.org_id, team.id, stranger.user_id, "LEAD"
        ),
        org_id=team.org_id,
    )


@refusal("team_memberships", takes_on_conflict=False)
def removing_a_member_of_another_team(store: Store) -> Refusal:
    org = given_org(store)
    team, other = given_team(store, org), given_team(store, org)
    member = given_team_member(store, other)
    return Refusal(
        "not_team_member",
        lambda uow, _: uow.team_memberships.remove(org.id, team.id, member.user_id),
        org_id=org.id,
    )


# --- outbox --------------------------------------------------------------------------------


@refusal("outbox", takes_on_conflict=False)
def claiming_an_entry_another_dispatcher_claimed(store: Store) -> Refusal:
    entry = given_entry(store)
    committed(
        store, lambda uow: uow.outbox.claim([entry], until=entry.next_attempt_at + minutes(5))
    )
    return Refusal(
        "outbox_claimed",
        lambda uow, _: uow.outbox.claim([entry], until=entry.next_attempt_at + minutes(5)),
    )


@refusal("outbox", takes_on_conflict=False)
def claiming_an_entry_that_was_sent(store: Store) -> Refusal:
    entry = given_entry(store)
    committed(store, lambda uow: uow.outbox.mark_sent(entry.id, at=entry.created_at))
    return Refusal(
        "outbox_claimed",
        lambda uow, _: uow.outbox.claim([entry], until=entry.next_attempt_at + minutes(5)),
    )


# --- signing keys --------------------------------------------------------------------------


@refusal("signing_keys", takes_on_conflict=False)
def moving_a_key_out_of_a_state_it_already_left(store: Store) -> Refusal:
    key = given_key(store, state=KeyState.CURRENT)
    return Refusal(
        "key_state_changed",
        lambda uow, _: uow.signing_keys.set_state(
            key.kid, expected=KeyState.NEXT, new=KeyState.CURRENT, at=AT
        ),
    )


@refusal("signing_keys", takes_on_conflict=False)
def moving_a_missing_key(store: Store) -> Refusal:
    missing = new_id("key")
    return Refusal(
        "key_state_changed",
        lambda uow, _: uow.signing_keys.set_state(
            missing, expected=KeyState.CURRENT, new=KeyState.RETIRED, at=AT
        ),
    )
