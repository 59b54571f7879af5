"""The authorizer answers as a fresh evaluation would, under any interleaving of changes.

A Hypothesis state machine drives one organisation (a new OWNER's, with three members)
through the access changes its OWNER can make over HTTP: custom roles created, edited,
deleted, assigned and unassigned; organisation roles changed; teams created and deleted;
members added to teams, re-roled and taken out; a member removed. After every change it asks
`POST /v1/authorize`, with each person's own token, about every permission of its pool (in
the organisation and in each of their teams), and random checks come in between, so the
process's snapshot cache answers whenever it may. Every answer is held to the decision the
same domain code makes on state read afresh with no cache (`load_access` in a new unit of
work, compiled, decided) and must name the stored epoch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tenantry.access.checks import load_access
from tenantry.bootstrap import Tenantry
from tenantry.domain.decision import CompiledAccess, Decision
from tenantry.domain.ids import new_id
from tenantry.domain.roles import OrgRole
from tests import access_builders as builders
from tests.harness import Account, Api, TestClock

PATTERNS = (
    "site:*",
    "site:read",
    "site:page:*",
    "*:read",
    "*:page:edit",
    "team:member:add",
    "team:*",
    "member:*",
    "billing:*:view",
)
ASKED = (
    "site:read",
    "site:publish",
    "site:page:edit",
    "team:read",
    "team:member:add",
    "team:member:remove",
    "billing:invoice:view",
    "member:update",
    "organisation:read",
    "role:assign",
)
MEMBERS = 3
SOME_PATTERNS = st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True)
# Every permission of the pool at once (a decision each, for one request), or a few.
SOME_ASKED = st.just(list(ASKED)) | st.lists(st.sampled_from(ASKED), min_size=1, max_size=3)


@dataclass(frozen=True)
class How:
    """How a check asks: with each grant explained; with the last change's epoch as
    `min_epoch`."""

    explain: bool
    with_min_epoch: bool


HOW = st.builds(How, st.booleans(), st.booleans())
EVERYTHING = How(explain=True, with_min_epoch=True)

RUNS = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class FreshAnswer:
    """What a check must answer, from state read afresh. `decisions` is None when the user
    has no access snapshot in the organisation (not, or no longer, an active member)."""

    epoch: int
    decisions: list[Decision] | None
    org_role: str | None = None
    team_ids: tuple[str, ...] = ()


def fresh_answer(
    tenantry: Tenantry, org_id: str, user_id: str, permissions: list[str], team_id: str | None
) -> FreshAnswer:
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        org = uow.organisations.get(org_id)
        assert org is not None
        snapshot = load_access(uow, org, user_id)
        team_exists = team_id is None or uow.teams.get(org_id, team_id) is not None
    if snapshot is None:
        return FreshAnswer(org.authz_epoch, None)
    compiled = CompiledAccess.of(snapshot)
    decisions = [compiled.decide(p, team_id, team_exists=team_exists) for p in permissions]
    for decision in decisions:  # the compiled structure agrees with the snapshot's own walk
        assert decision.grant == snapshot.grant_for(decision.permission, team_id)
    org_role = snapshot.org_role.value if snapshot.org_role is not None else None
    return FreshAnswer(org.authz_epoch, decisions, org_role, snapshot.team_ids)


def on_the_wire(decision: Decision, *, explain: bool) -> dict[str, Any]:
    grant = decision.grant
    shown = (
        {"pattern": grant.pattern, "path": grant.path, "team_id": grant.team_id}
        if explain and grant is not None
        else None
    )
    return {
        "permission": decision.permission,
        "allowed": decision.allowed,
        "reason": decision.reason.value,
        "grant": shown,
    }


def without_standing(permission: str, reason: str) -> dict[str, Any]:
    return {"permission": permission, "allowed": False, "reason": reason, "grant": None}


class AuthorizerAgainstFreshState(RuleBasedStateMachine):
    people = Bundle("people")  # user ids: the OWNER and every member, removed or not
    members = Bundle("members")  # user ids of the active members the OWNER may change
    roles = Bundle("roles")
    teams = Bundle("teams")
    gone_teams = Bundle("gone_teams")

    def __init__(self, api: Api, clock: TestClock, member_accounts: list[Account]) -> None:
        """A fresh organisation of a new OWNER, which `member_accounts` join as MEMBERs
        (through the store, as `Api.member_of` does) and sign in for: signing members up
        anew for every example would cost more than the example's steps."""
        super().__init__()
        clock.advance(hours=1)  # every example's OWNER signs up from one client: a fresh window
        self.api = api
        self.owner, org = api.owner_with_org()
        self.org_id: str = org["id"]
        for account in member_accounts:
            api.add_membership(account, self.org_id, OrgRole.MEMBER)
            api.switch_org(account, self.org_id)
        everyone = [self.owner, *member_accounts]
        self.accounts = {account.user_id: account for account in everyone}
        self.epoch = builders.stored_epoch(api.tenantry, self.org_id)
        self.names = itertools.count()
        # What the OWNER has done so far, to know how each change must be answered.
        self.removed: set[str] = set()
        self.scopes: dict[str, str] = {}  # live role id -> scope
        self.assigned: set[tuple[str, str]] = set()  # (user id, role id)
        self.team_roles: dict[tuple[str, str], str] = {}  # (team id, user id) -> team role
        self.unasked_change = True

    @initialize(target=people)
    def everyone(self) -> MultipleResults[str]:
        """people_0 is the OWNER; people_1 to people_3 are members_0 to members_2."""
        return multiple(*self.accounts)

    @initialize(target=members)
    def the_members(self) -> MultipleResults[str]:
        return multiple(*(user_id for user_id in self.accounts if user_id != self.owner.user_id))

    # --- custom roles ---------------------------------------------------------------------

    @initialize(target=roles, patterns=SOME_PATTERNS)
    def a_first_role(self, patterns: list[str]) -> str:
        return self._new_role(patterns, "ORGANISATION")

    @rule(target=roles, patterns=SOME_PATTERNS, scope=st.sampled_from(["ORGANISATION", "TEAM"]))
    def create_role(self, patterns: list[str], scope: str) -> str:
        return self._new_role(patterns, scope)

    def _new_role(self, patterns: list[str], scope: str) -> str:
        name = f"Role {next(self.names)}"
        created = builders.create_role(self.api, self.owner, name, patterns, scope=scope)
        role_id: str = self._changed(created, 201).json()["id"]
        self.scopes[role_id] = scope
        return role_id

    @rule(role=roles, patterns=SOME_PATTERNS)
    def edit_role(self, role: str, patterns: list[str]) -> None:
        edited = builders.patch_role(self.api, self.owner, role, {"permissions": patterns})
        self._changed(edited, 200)

    @rule(role=consumes(roles))
    def delete_role(self, role: str) -> None:
        self._changed(builders.delete_role(self.api, self.owner, role), 204)
        del self.scopes[role]
        self.assigned = {(user, held) for user, held in self.assigned if held != role}
        for key, team_role in self.team_roles.items():
            if team_role == role:
                self.team_roles[key] = "MEMBER"

    @rule(member=members, role=roles)
    def assign_role(self, member: str, role: str) -> None:
        response = builders.assign(self.api, self.owner, member, role)
        if self.scopes[role] == "TEAM":
            self._refused(response, 422, "role_scope_mismatch")
        else:
            self._changed(response, 200)
            self.assigned.add((member, role))

    @rule(member=members, role=roles)
    def unassign_role(self, member: str, role: str) -> None:
        response = builders.unassign(self.api, self.owner, member, role)
        if (member, role) in self.assigned:
            self._changed(response, 204)
            self.assigned.discard((member, role))
        else:
            self._refused(response, 404, "role_not_assigned")

    # --- members --------------------------------------------------------------------------

    @rule(member=members, org_role=st.sampled_from(["ADMIN", "MEMBER"]))
    def change_org_role(self, member: str, org_role: str) -> None:
        self._changed(builders.set_org_role(self.api, self.owner, member, org_role), 200)

    # One removal an example at most, so most checks are of members with access to decide.
    @precondition(lambda self: not self.removed)
    @rule(member=consumes(members))
    def remove_member(self, member: str) -> None:
        self._changed(builders.remove_member(self.api, self.owner, member), 204)
        self.removed.add(member)
        self.assigned = {(user, role) for user, role in self.assigned if user != member}
        self.team_roles = {k: r for k, r in self.team_roles.items() if k[1] != member}

    # --- teams ----------------------------------------------------------------------------

    @rule(target=teams)
    def create_team(self) -> str:
        return self._new_team()

    def _new_team(self) -> str:
        name = f"Team {next(self.names)}"
        made = self._changed(builders.create_team(self.api, self.owner, name), 201)
        team_id: str = made.json()["id"]
        return team_id

    @rule(target=gone_teams, team=consumes(teams))
    def delete_team(self, team: str) -> str:
        path = builders.org_path(self.owner, "teams", team)
        self._changed(self.api.client.delete(path, headers=self.owner.auth), 204)
        self.team_roles = {k: r for k, r in self.team_roles.items() if k[0] != team}
        return team

    @initialize(target=gone_teams)
    def a_team_that_never_was(self) -> str:
        return new_id("team")

    @initialize(target=teams)
    def a_first_team(self) -> str:
        return self._new_team()

    @rule(team=teams, who=people, team_role=st.sampled_from(["LEAD", "MEMBER"]))
    def give_built_in_team_role(self, team: str, who: str, team_role: str) -> None:
        self._give_team_role(team, who, team_role)

    # A bundle inside `one_of` keeps a rule off while the bundle is empty: a rule of its own.
    @rule(team=teams, who=people, role=roles)
    def give_custom_team_role(self, team: str, who: str, role: str) -> None:
        self._give_team_role(team, who, role)

    def _give_team_role(self, team: str, who: str, team_role: str) -> None:
        """Add to the team with `team_role`, or change the team role of one already in it."""
        joining = (team, who) not in self.team_roles
        give = builders.add_to_team if joining else builders.set_team_role
        response = give(self.api, self.owner, team, who, team_role)
        if not joining and who == self.owner.user_id:
            self._refused(response, 403, "cannot_change_own_role")
        elif who in self.removed:
            self._refused(response, 404, "member_not_found")
        elif self.scopes.get(team_role, "TEAM") != "TEAM":  # LEAD and MEMBER are team roles
            self._refused(response, 422, "role_scope_mismatch")
        else:
            self._changed(response, 201 if joining else 200)
            self.team_roles[team, who] = team_role

    @rule(team=teams, who=people)
    def take_out_of_team(self, team: str, who: str) -> None:
        response = builders.remove_from_team(self.api, self.owner, team, who)
        if (team, who) in self.team_roles:
            self._changed(response, 204)
            del self.team_roles[team, who]
        else:
            self._refused(response, 404, "team_member_not_found")

    # --- checks -------------------------------------------------------------------------

    @precondition(lambda self: self.unasked_change)
    @invariant()
    def after_a_change_everyone_is_asked_everything(self) -> None:
        """In the organisation and in each of their teams: the snapshots this caches are
        what the next change must not leave behind."""
        self.unasked_change = False
        for who in self.accounts:
            self._check(who, list(ASKED), None, EVERYTHING)
        for team, who in sorted(self.team_roles):
            self._check(who, list(ASKED), team, EVERYTHING)

    @rule(who=people, permissions=SOME_ASKED, how=HOW)
    def check_in_the_organisation(self, who: str, permissions: list[str], how: How) -> None:
        self._check(who, permissions, None, how)

    @rule(who=people, team=st.one_of(teams, gone_teams), permissions=SOME_ASKED, how=HOW)
    def check_in_a_team(self, who: str, team: str, permissions: list[str], how: How) -> None:
        self._check(who, permissions, team, how)

    @precondition(lambda self: self.team_roles)
    @rule(data=st.data(), permissions=SOME_ASKED, how=HOW)
    def check_in_their_team(self, data: st.DataObject, permissions: list[str], how: How) -> None:
        """A team member asking within their team, where team grants may decide."""
        team, who = data.draw(st.sampled_from(sorted(self.team_roles)), label="in_team")
        self._check(who, permissions, team, how)

    def _check(
        self,
        who: str,
        permissions: list[str],
        team: str | None,
        how: How,
    ) -> None:
        """Ask with `who`'s own token; the answer must be the fresh evaluation's, at the
        stored epoch."""
        body: dict[str, Any] = {
            "organisation_id": self.org_id,
            "permissions": permissions,
            "explain": how.explain,
        }
        if team is not None:
            body["team_id"] = team
        if how.with_min_epoch:  # read-your-writes: never ahead of the store on one process
            body["min_epoch"] = self.epoch
        response = self.api.client.post("/v1/authorize", json=body, headers=self.accounts[who].auth)
        assert response.status_code == 200, response.text
        answer = response.json()
        truth = fresh_answer(self.api.tenantry, self.org_id, who, permissions, team)
        assert answer["epoch"] == truth.epoch == self.epoch
        assert (answer["user_id"], answer["organisation_id"]) == (who, self.org_id)
        assert (truth.decisions is None) == (who in self.removed)
        if truth.decisions is None:
            expected = [without_standing(p, "membership_inactive") for p in permissions]
        else:
            expected = [on_the_wire(d, explain=how.explain) for d in truth.decisions]
        assert answer["decisions"] == expected
        assert answer["allowed"] == all(d["allowed"] for d in expected)
        assert (answer["org_role"], answer["team_ids"]) == (truth.org_role, list(truth.team_ids))

    # --- answers to the OWNER's changes ---------------------------------------------------

    def _changed(self, response: Any, status: int) -> Any:
        """A change that must succeed; its epoch is the stored one, and the checks' floor."""
        assert response.status_code == status, response.text
        self.epoch = builders.epoch_of(response)
        assert self.epoch == builders.stored_epoch(self.api.tenantry, self.org_id)
        self.unasked_change = True
        return response

    def _refused(self, response: Any, status: int, code: str) -> None:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_every_check_answers_as_a_fresh_evaluation_would(api: Api, clock: TestClock) -> None:
    member_accounts = [api.verified_account() for _ in range(MEMBERS)]
    # Hypothesis documents any factory of machines; its annotation names only a class.
    machine = lambda: AuthorizerAgainstFreshState(api, clock, member_accounts)  # noqa: E731
    run_state_machine_as_test(machine, settings=RUNS)  # type: ignore[arg-type]
