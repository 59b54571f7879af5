"""Managing an organisation's members through the HTTP API (seeds 002, organisation cases):
the role hierarchy, removal and leaving, the last OWNER, ownership transfer, deletion with
cascade, cross-organisation denial, and the effective-permissions endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.errors import Conflict
from tenantry.domain.model import MembershipStatus, OrgStatus
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.members import service as members
from tenantry.runner import Runner
from tenantry.unit_of_work import UnitOfWork
from tests.access_builders import (
    EPOCH,
    MEMBER_GRANTS,
    add_to_team,
    assign,
    epoch_of,
    grants_of,
    made_role,
    made_team,
    org_path,
    permissions_of,
    refusals,
    remove_member,
    set_org_role,
    stored_assignments,
    stored_epoch,
    stored_roles,
    stored_team,
    stored_team_members,
    successes,
)
from tests.harness import ON_EVERY_STORE, Account, Api, StoreTarget, TestClock, audit_events
from tests.integration.account_checks import log_in_again
from tests.org_builders import stored_membership, stored_organisation

pytestmark = ON_EVERY_STORE

# How a refusal is on record: a 403 or a 404 is DENIED, any other is a FAILURE of its kind.
DENIED = (EventType.AUTHORIZATION, Outcome.DENIED)
MANAGEMENT_FAILED = (EventType.USER_MANAGEMENT, Outcome.FAILURE)


def role_of(api: Api, org_id: str, user_id: str) -> tuple[OrgRole, MembershipStatus]:
    membership = stored_membership(api.tenantry, org_id, user_id)
    assert membership is not None
    return membership.org_role, membership.status


def transfer(api: Api, account: Account, user_id: str) -> Any:
    return api.client.post(
        org_path(account, "transfer-ownership"), json={"user_id": user_id}, headers=account.auth
    )


def denials(store_target: StoreTarget, org_id: str) -> list[tuple[str | None, str, str | None]]:
    return [
        (e.actor_id, e.action, e.reason)
        for e in audit_events(store_target, org_id=org_id, outcome=Outcome.DENIED)
    ]


# --- the role hierarchy: OWNER > ADMIN > MEMBER ----------------------------------------------


def test_an_admin_promotes_a_member_to_admin(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    member = api.member_of(org["id"])
    before = stored_epoch(api.tenantry, org["id"])

    promoted = set_org_role(api, admin, member.user_id, "ADMIN")

    assert promoted.status_code == 200, promoted.text
    assert {k: promoted.json()[k] for k in ("user_id", "email", "org_role", "status")} == {
        "user_id": member.user_id,
        "email": member.email,
        "org_role": "ADMIN",
        "status": "ACTIVE",
    }
    assert epoch_of(promoted) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert role_of(api, org["id"], member.user_id) == (OrgRole.ADMIN, MembershipStatus.ACTIVE)
    assert ("role:create", "org_role:ADMIN", None) in grants_of(api, admin, member.user_id)
    [event] = audit_events(store_target, org_id=org["id"], action="member.role_change")
    assert (event.event_type, event.actor_id, event.resource_id, event.details) == (
        EventType.USER_MANAGEMENT,
        admin.user_id,
        member.user_id,
        {
            "before": {"org_role": "MEMBER"},
            "after": {"org_role": "ADMIN"},
            "authz_epoch": before + 1,
        },
    )


@pytest.mark.parametrize(
    ("target_role", "new_role"),
    [(OrgRole.MEMBER, "OWNER"), (OrgRole.OWNER, "ADMIN"), (OrgRole.OWNER, "MEMBER")],
    ids=["make an owner", "demote an owner to admin", "demote an owner to member"],
)
def test_an_admin_cannot_make_or_demote_an_owner(
    api: Api, store_target: StoreTarget, target_role: OrgRole, new_role: str
) -> None:
    _, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    target = api.member_of(org["id"], target_role)
    before = stored_epoch(api.tenantry, org["id"])

    refused = set_org_role(api, admin, target.user_id, new_role)

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "owner_required"
    assert role_of(api, org["id"], target.user_id) == (target_role, MembershipStatus.ACTIVE)
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert denials(store_target, org["id"]) == [
        (admin.user_id, "member.role_change", "owner_required")
    ]
    changes = audit_events(store_target, org_id=org["id"], action="member.role_change")
    assert [e.outcome for e in changes] == [Outcome.DENIED]


def test_an_admin_cannot_remove_an_owner(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)

    refused = remove_member(api, admin, owner.user_id)

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "owner_required"
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert denials(store_target, org["id"]) == [(admin.user_id, "member.remove", "owner_required")]
    assert api.client.get(org_path(owner, "roles"), headers=owner.auth).status_code == 200


def test_an_owner_makes_and_demotes_another_owner(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)

    made = set_org_role(api, owner, admin.user_id, "OWNER")
    demoted = set_org_role(api, owner, admin.user_id, "MEMBER")

    assert (made.status_code, demoted.status_code) == (200, 200), (made.text, demoted.text)
    assert epoch_of(demoted) == epoch_of(made) + 1 == stored_epoch(api.tenantry, org["id"])
    assert role_of(api, org["id"], admin.user_id) == (OrgRole.MEMBER, MembershipStatus.ACTIVE)
    changes = audit_events(store_target, org_id=org["id"], action="member.role_change")
    assert sorted(
        (e.details["before"]["org_role"], e.details["after"]["org_role"]) for e in changes
    ) == [
        ("ADMIN", "OWNER"),
        ("OWNER", "MEMBER"),
    ]


@pytest.mark.parametrize("new_role", ["ADMIN", "MEMBER"])
def test_a_member_cannot_change_roles(api: Api, store_target: StoreTarget, new_role: str) -> None:
    _, org = api.owner_with_org()
    member, other = api.member_of(org["id"]), api.member_of(org["id"])

    refused = set_org_role(api, member, other.user_id, new_role)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "member:update",
    )
    assert role_of(api, org["id"], other.user_id) == (OrgRole.MEMBER, MembershipStatus.ACTIVE)
    assert denials(store_target, org["id"]) == [
        (member.user_id, "member:update", "missing_permission")
    ]


def test_a_custom_role_with_member_update_does_not_raise_anyone_above_its_holder(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    manager, member = api.member_of(org["id"]), api.member_of(org["id"])
    role_id = made_role(api, owner, "Member manager", ["member:update"])
    assert assign(api, owner, manager.user_id, role_id).status_code == 200
    before = stored_epoch(api.tenantry, org["id"])

    refused = set_org_role(api, manager, member.user_id, "ADMIN")

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "rank_exceeded"
    assert role_of(api, org["id"], member.user_id) == (OrgRole.MEMBER, MembershipStatus.ACTIVE)
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert denials(store_target, org["id"]) == [
        (manager.user_id, "member.role_change", "rank_exceeded")
    ]


@pytest.mark.parametrize(
    ("own_role", "new_role"),
    [(OrgRole.ADMIN, "OWNER"), (OrgRole.ADMIN, "MEMBER"), (OrgRole.OWNER, "ADMIN")],
)
def test_nobody_changes_their_own_role(
    api: Api, store_target: StoreTarget, own_role: OrgRole, new_role: str
) -> None:
    owner, org = api.owner_with_org()
    caller = owner if own_role is OrgRole.OWNER else api.member_of(org["id"], own_role)
    before = stored_epoch(api.tenantry, org["id"])

    refused = set_org_role(api, caller, caller.user_id, new_role)

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "cannot_change_own_role"
    assert role_of(api, org["id"], caller.user_id) == (own_role, MembershipStatus.ACTIVE)
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert denials(store_target, org["id"]) == [
        (caller.user_id, "member.role_change", "cannot_change_own_role")
    ]


# --- removal and leaving ---------------------------------------------------------------------


def test_removing_a_member_ends_their_membership_roles_teams_and_tokens(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", ["site:publish"])
    team_id = made_team(api, owner, "Platform")
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    assert add_to_team(api, owner, team_id, member.user_id, "LEAD").status_code == 201
    before = stored_epoch(api.tenantry, org["id"])
    clock.advance(seconds=1)

    removed = remove_member(api, owner, member.user_id)

    assert removed.status_code == 204, removed.text
    assert epoch_of(removed) == stored_epoch(api.tenantry, org["id"]) == before + 1
    membership = stored_membership(api.tenantry, org["id"], member.user_id)
    assert membership is not None
    assert (membership.status, membership.ended_at) == (MembershipStatus.ENDED, clock.now())
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == []
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    team = stored_team(api.tenantry, org["id"], team_id)
    assert team is not None
    assert team.member_count == 0
    # Their token for the organisation is refused at once.
    stale = permissions_of(api, member, member.user_id)
    assert stale.status_code == 401, stale.text
    assert stale.json()["code"] == "token_revoked"
    gone = permissions_of(api, owner, member.user_id)
    assert gone.status_code == 404, gone.text
    assert gone.json()["code"] == "member_not_found"
    assert refusals(store_target, org["id"], action="member:read") == [
        (*DENIED, "member:read", "member_not_found", member.user_id, org["id"])
    ]
    assert denials(store_target, org["id"]) == [(owner.user_id, "member:read", "member_not_found")]
    [event] = audit_events(store_target, org_id=org["id"], action="member.remove")
    assert (event.event_type, event.actor_id, event.resource_id, event.details) == (
        EventType.USER_MANAGEMENT,
        owner.user_id,
        member.user_id,
        {
            "before": {
                "org_role": "MEMBER",
                "status": "ACTIVE",
                "role_ids": [role_id],
                "team_ids": [team_id],
            },
            "after": {"status": "ENDED"},
            "authz_epoch": before + 1,
        },
    )
    refused_tokens = audit_events(
        store_target, org_id=org["id"], actor_id=member.user_id, action="auth.token"
    )
    assert [(e.outcome, e.reason) for e in refused_tokens] == [
        (Outcome.FAILURE, "membership_ended")
    ]


def test_a_member_cannot_remove_another_member(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    member, other = api.member_of(org["id"]), api.member_of(org["id"])

    refused = remove_member(api, member, other.user_id)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "member:remove",
    )
    assert role_of(api, org["id"], other.user_id) == (OrgRole.MEMBER, MembershipStatus.ACTIVE)
    assert denials(store_target, org["id"]) == [
        (member.user_id, "member:remove", "missing_permission")
    ]


def test_a_member_leaves_on_their_own(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    left = remove_member(api, member, member.user_id)

    assert left.status_code == 204, left.text
    assert epoch_of(left) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert role_of(api, org["id"], member.user_id) == (OrgRole.MEMBER, MembershipStatus.ENDED)
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    stale = api.client.get("/v1/me/teams", headers=member.auth)
    assert stale.status_code == 401, stale.text
    [event] = audit_events(store_target, org_id=org["id"], action="member.leave")
    assert (event.actor_id, event.resource_id, event.details["before"]["team_ids"]) == (
        member.user_id,
        member.user_id,
        [team_id],
    )
    assert denials(store_target, org["id"]) == []


def test_an_owner_leaves_when_another_owner_stays(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    second = api.member_of(org["id"], OrgRole.OWNER)

    left = remove_member(api, owner, owner.user_id)

    assert left.status_code == 204, left.text
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ENDED)
    assert role_of(api, org["id"], second.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert len(audit_events(store_target, org_id=org["id"], action="member.leave")) == 1


# --- the last OWNER stays ------------------------------------------------------------------


def test_the_last_owner_cannot_leave(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    api.member_of(org["id"], OrgRole.ADMIN)
    before = stored_epoch(api.tenantry, org["id"])

    refused = remove_member(api, owner, owner.user_id)

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "last_owner"
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert stored_epoch(api.tenantry, org["id"]) == before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.event_type, denied.actor_id, denied.action, denied.reason) == (
        EventType.USER_MANAGEMENT,
        owner.user_id,
        "member.leave",
        "last_owner",
    )
    leaves = audit_events(store_target, org_id=org["id"], action="member.leave")
    assert [e.outcome for e in leaves] == [Outcome.DENIED]
    assert api.client.get(org_path(owner, "roles"), headers=owner.auth).status_code == 200


@pytest.mark.parametrize("change", ["demote", "remove"])
def test_not_even_the_operator_demotes_or_removes_the_last_owner(
    api: Api, store_target: StoreTarget, change: str
) -> None:
    """Only the operator (the CLI's caller) outranks an organisation's only OWNER; the guard
    holds for them too."""
    owner, org = api.owner_with_org()
    before = stored_epoch(api.tenantry, org["id"])
    operator = Runner(api.tenantry, principal=SYSTEM)
    deps = api.tenantry.deps

    def demote(uow: UnitOfWork) -> object:
        return members.change_org_role(uow, deps, SYSTEM, org["id"], owner.user_id, OrgRole.ADMIN)

    def remove(uow: UnitOfWork) -> object:
        return members.remove_member(uow, deps, SYSTEM, org["id"], owner.user_id)

    with pytest.raises(Conflict) as refused:
        operator(demote if change == "demote" else remove)

    assert refused.value.code == "last_owner"
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert stored_epoch(api.tenantry, org["id"]) == before
    action = "member.role_change" if change == "demote" else "member.remove"
    assert denials(store_target, org["id"]) == [("system", action, "last_owner")]


# --- ownership transfer ----------------------------------------------------------------------


def test_ownership_is_transferred_in_one_step(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    before = stored_epoch(api.tenantry, org["id"])

    moved = transfer(api, owner, admin.user_id)

    assert moved.status_code == 200, moved.text
    assert (moved.json()["user_id"], moved.json()["org_role"]) == (admin.user_id, "OWNER")
    assert epoch_of(moved) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert role_of(api, org["id"], admin.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.ADMIN, MembershipStatus.ACTIVE)
    [event] = audit_events(store_target, org_id=org["id"], action="organisation.transfer")
    assert (event.event_type, event.actor_id, event.details) == (
        EventType.USER_MANAGEMENT,
        owner.user_id,
        {
            "before": {"owner": owner.user_id, "new_owner_role": "ADMIN"},
            "after": {"owner": admin.user_id, "former_owner_role": "ADMIN"},
            "authz_epoch": before + 1,
        },
    )
    # The decision reads the new roles, not the token's claim: the former owner can no longer
    # hand the organisation on, and the new one can.
    again = transfer(api, owner, admin.user_id)
    assert again.status_code == 403, again.text
    assert again.json()["permission"] == "organisation:transfer"
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "organisation:transfer", "missing_permission", org["id"], org["id"])
    ]
    back = transfer(api, admin, owner.user_id)
    assert back.status_code == 200, back.text


def test_a_non_owner_cannot_transfer_ownership(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)

    refused = transfer(api, admin, admin.user_id)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "organisation:transfer",
    )
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert role_of(api, org["id"], admin.user_id) == (OrgRole.ADMIN, MembershipStatus.ACTIVE)
    assert denials(store_target, org["id"]) == [
        (admin.user_id, "organisation:transfer", "missing_permission")
    ]


def test_ownership_is_not_transferred_to_oneself_or_to_a_non_member(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    outsider, outsider_org = api.owner_with_org()
    before = stored_epoch(api.tenantry, org["id"])

    to_self = transfer(api, owner, owner.user_id)
    to_outsider = transfer(api, owner, outsider.user_id)

    assert to_self.status_code == 422, to_self.text
    assert to_self.json()["code"] == "cannot_transfer_to_self"
    assert to_outsider.status_code == 404, to_outsider.text
    assert to_outsider.json()["code"] == "member_not_found"
    assert role_of(api, org["id"], owner.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert stored_membership(api.tenantry, org["id"], outsider.user_id) is None
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert successes(store_target, org["id"], "organisation.transfer") == []
    # Recorded about the member named, in the caller's organisation, never in the outsider's.
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "organisation.transfer", "member_not_found", outsider.user_id, org["id"]),
        (
            *MANAGEMENT_FAILED,
            "organisation.transfer",
            "cannot_transfer_to_self",
            owner.user_id,
            org["id"],
        ),
    ]
    assert denials(store_target, org["id"]) == [
        (owner.user_id, "organisation.transfer", "member_not_found")
    ]
    assert audit_events(store_target, org_id=outsider_org["id"], actor_id=owner.user_id) == []


# --- deletion with cascade -------------------------------------------------------------------


def test_deleting_the_organisation_ends_every_members_access(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", ["site:publish"])
    team_id = made_team(api, owner, "Platform")
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    assert add_to_team(api, owner, team_id, member.user_id, "LEAD").status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    deleted = api.client.delete(f"/v1/organisations/{org['id']}", headers=owner.auth)

    assert deleted.status_code == 204, deleted.text
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert (stored.status, stored.authz_epoch) == (OrgStatus.DELETED, before + 1)
    for account in (owner, admin, member):
        for path in ("roles", "teams", f"members/{member.user_id}/permissions"):
            stale = api.client.get(org_path(account, path), headers=account.auth)
            assert stale.status_code == 401, (path, stale.text)
            assert stale.json()["code"] == "token_revoked"
        relogged = log_in_again(api, account)
        unreachable = api.client.get(
            org_path(account, "members", account.user_id, "permissions"), headers=relogged.auth
        )
        assert unreachable.status_code == 404, unreachable.text
        assert unreachable.json()["code"] == "organisation_not_found"
        assert api.client.get("/v1/me/teams", headers=relogged.auth).json()["items"] == []
    # Nothing is rewritten row by row: the status and the epoch end their effect.
    assert [a.role_id for a in stored_assignments(api.tenantry, org["id"], member.user_id)] == [
        role_id
    ]
    assert [r.id for r in stored_roles(api.tenantry, org["id"])] == [role_id]
    [event] = audit_events(store_target, org_id=org["id"], action="organisation.delete")
    assert (event.actor_id, event.details) == (owner.user_id, {"authz_epoch": before + 1})


def test_deleting_the_organisation_answers_its_new_epoch(api: Api) -> None:
    owner, org = api.owner_with_org()
    before = stored_epoch(api.tenantry, org["id"])

    deleted = api.client.delete(f"/v1/organisations/{org['id']}", headers=owner.auth)

    assert deleted.status_code == 204, deleted.text
    assert deleted.headers.get(EPOCH) == str(before + 1)


# --- cross-organisation denial -------------------------------------------------------------

CROSS_ORG_ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    # (method, path under org B, the action audited, body)
    ("GET", "roles", "role:read", None),
    ("POST", "roles", "role:create", {"name": "Spy", "permissions": ["site:read"]}),
    ("GET", "teams", "team:read", None),
    ("POST", "teams", "team:create", {"name": "Spies"}),
    ("PATCH", "members/{b_owner}", "member:update", {"org_role": "MEMBER"}),
    ("DELETE", "members/{b_owner}", "member:remove", None),
    ("GET", "members/{b_owner}/permissions", "member:read", None),
    ("PUT", "members/{b_owner}/roles/rol_x", "role:assign", None),
    ("POST", "transfer-ownership", "organisation:transfer", {"user_id": "{a_owner}"}),
]


@pytest.mark.parametrize(
    ("method", "path", "action", "body"),
    CROSS_ORG_ROUTES,
    ids=[f"{r[0]} {r[1]}" for r in CROSS_ORG_ROUTES],
)
def test_another_organisations_owner_is_refused_as_if_it_did_not_exist(
    api: Api,
    store_target: StoreTarget,
    method: str,
    path: str,
    action: str,
    body: dict[str, Any] | None,
) -> None:
    owner_a, org_a = api.owner_with_org()
    owner_b, org_b = api.owner_with_org()
    epoch_b = stored_epoch(api.tenantry, org_b["id"])
    ids = {"b_owner": owner_b.user_id, "a_owner": owner_a.user_id}
    url = f"/v1/organisations/{org_b['id']}/{path.format(**ids)}"
    if body is not None:
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}

    refused = api.client.request(method, url, json=body, headers=owner_a.auth)

    assert refused.status_code == 404, refused.text
    assert refused.json()["code"] == "organisation_not_found"
    assert EPOCH not in refused.headers
    assert [
        (e.actor_id, e.action, e.reason)
        for e in audit_events(store_target, org_id=org_a["id"], outcome=Outcome.DENIED)
    ] == [(owner_a.user_id, action, "other_organisation")]
    assert audit_events(store_target, org_id=org_b["id"], actor_id=owner_a.user_id) == []
    assert stored_epoch(api.tenantry, org_b["id"]) == epoch_b
    assert stored_roles(api.tenantry, org_b["id"]) == []
    assert role_of(api, org_b["id"], owner_b.user_id) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert stored_membership(api.tenantry, org_b["id"], owner_a.user_id) is None


# --- the effective-permissions endpoint ------------------------------------------------------


def test_a_member_reads_their_own_permissions_with_every_grant_path(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", ["site:publish"])
    team_id = made_team(api, owner, "Platform")
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    assert add_to_team(api, owner, team_id, member.user_id, "LEAD").status_code == 201

    mine = permissions_of(api, member, member.user_id)

    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert {k: body[k] for k in ("user_id", "organisation_id", "org_role", "team_ids")} == {
        "user_id": member.user_id,
        "organisation_id": org["id"],
        "org_role": "MEMBER",
        "team_ids": [team_id],
    }
    assert body["epoch"] == stored_epoch(api.tenantry, org["id"])
    # Organisation-wide grants first, then each team's; most specific pattern first.
    assert [(p["permission"], p["grant"], p["team_id"]) for p in body["permissions"]] == [
        ("member:read", "org_role:MEMBER", None),
        ("organisation:read", "org_role:MEMBER", None),
        ("site:publish", f"role:{role_id}(Site editor)", None),
        ("team:read", "org_role:MEMBER", None),
        ("team:member:add", f"team:{team_id}/LEAD", team_id),
        ("team:member:remove", f"team:{team_id}/LEAD", team_id),
        ("team:read", f"team:{team_id}/LEAD", team_id),
    ]
    # A read changes nothing and is not an access change.
    assert EPOCH not in mine.headers
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []


def test_any_member_reads_another_members_permissions_but_not_a_strangers(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    outsider, outsider_org = api.owner_with_org()

    of_owner = permissions_of(api, member, owner.user_id)
    of_outsider = permissions_of(api, member, outsider.user_id)

    assert of_owner.status_code == 200, of_owner.text
    assert (of_owner.json()["org_role"], of_owner.json()["permissions"]) == (
        "OWNER",
        [{"permission": "*:*", "grant": "org_role:OWNER", "team_id": None}],
    )
    assert of_outsider.status_code == 404, of_outsider.text
    assert of_outsider.json()["code"] == "member_not_found"
    assert grants_of(api, owner, member.user_id) == MEMBER_GRANTS
    # Recorded in the reader's organisation, never in the stranger's.
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "member:read", "member_not_found", outsider.user_id, org["id"])
    ]
    assert denials(store_target, org["id"]) == [(member.user_id, "member:read", "member_not_found")]
    assert audit_events(store_target, org_id=outsider_org["id"], actor_id=member.user_id) == []
