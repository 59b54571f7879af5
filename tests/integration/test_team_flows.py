"""Teams through the HTTP API: seeds 001 flow 2 (team management) step by step, its team
cases rewritten to drive tenantry, and the rules on who joins and who manages a team."""

from __future__ import annotations

from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.teams import TeamMembership
from tests.access_builders import (
    EPOCH,
    add_to_team,
    create_team,
    epoch_of,
    grants_of,
    joined,
    made_role,
    made_team,
    org_path,
    permissions_of,
    refusals,
    remove_from_team,
    set_team_role,
    stored_epoch,
    stored_team,
    stored_team_members,
    successes,
)
from tests.harness import ON_EVERY_STORE, Account, Api, StoreTarget, TestClock, audit_events
from tests.integration.account_checks import log_in_again

pytestmark = ON_EVERY_STORE

# How a refusal is on record: a 403 or a 404 is DENIED, any other is a FAILURE of its kind.
DENIED = (EventType.AUTHORIZATION, Outcome.DENIED)
MEMBERSHIP_FAILED = (EventType.TEAM_MEMBERSHIP, Outcome.FAILURE)


def member_count(api: Api, org_id: str, team_id: str) -> int:
    team = stored_team(api.tenantry, org_id, team_id)
    assert team is not None
    return team.member_count


def team_members(api: Api, org_id: str, team_id: str) -> list[tuple[str, str]]:
    return [(m.user_id, m.team_role) for m in stored_team_members(api.tenantry, org_id, team_id)]


def my_team_ids(api: Api, account: Account) -> list[str]:
    response = api.client.get("/v1/me/teams", headers=account.auth)
    assert response.status_code == 200, response.text
    return [team["id"] for team in response.json()["items"]]


# --- seeds 001 flow 2: team management, step by step ---------------------------------------


def test_flow_2_team_management_step_by_step(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    start = stored_epoch(api.tenantry, org["id"])

    # Step 1: create a team.
    created = create_team(api, owner, "Platform")
    assert created.status_code == 201, created.text
    team = created.json()
    team_id = team["id"]
    assert team_id.startswith("team_")
    assert (team["name"], team["description"], team["member_count"]) == ("Platform", "", 0)
    assert epoch_of(created) == stored_epoch(api.tenantry, org["id"]) == start + 1

    # Step 2: the stored team has no members.
    assert member_count(api, org["id"], team_id) == 0
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    clock.advance(seconds=1)

    # Step 3: add a member.
    added = add_to_team(api, owner, team_id, member.user_id)
    assert added.status_code == 201, added.text
    assert added.json() == {
        "user_id": member.user_id,
        "email": member.email,
        "name": "Test User",
        "team_role": "MEMBER",
        "joined_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    assert epoch_of(added) == stored_epoch(api.tenantry, org["id"]) == start + 2

    # Step 4: the team membership is in the store.
    assert stored_team_members(api.tenantry, org["id"], team_id) == [
        TeamMembership(
            org["id"],
            team_id,
            member.user_id,
            "MEMBER",
            clock.now(),
            email=member.email,
            name="Test User",
        )
    ]

    # Step 5: the count moved with it.
    assert member_count(api, org["id"], team_id) == 1
    read = api.client.get(org_path(owner, "teams", team_id), headers=owner.auth)
    assert read.json()["member_count"] == 1
    clock.advance(seconds=1)

    # Step 6: a team role: LEAD, then a TEAM-scoped custom role.
    lead = set_team_role(api, owner, team_id, member.user_id, "LEAD")
    assert lead.status_code == 200, lead.text
    assert lead.json()["team_role"] == "LEAD"
    assert epoch_of(lead) == stored_epoch(api.tenantry, org["id"]) == start + 3
    assert team_members(api, org["id"], team_id) == [(member.user_id, "LEAD")]
    assert {g for g in grants_of(api, member, member.user_id) if g[2] == team_id} == {
        (p, f"team:{team_id}/LEAD", team_id)
        for p in ("team:read", "team:member:add", "team:member:remove")
    }
    clock.advance(seconds=1)
    deployer = made_role(api, owner, "Deployer", ["deploy:run", "team:read"], scope="TEAM")
    clock.advance(seconds=1)
    custom = set_team_role(api, owner, team_id, member.user_id, deployer)
    assert custom.status_code == 200, custom.text
    assert custom.json()["team_role"] == deployer
    assert epoch_of(custom) == stored_epoch(api.tenantry, org["id"]) == start + 5
    assert team_members(api, org["id"], team_id) == [(member.user_id, deployer)]
    assert {g for g in grants_of(api, member, member.user_id) if g[2] == team_id} == {
        (p, f"team:{team_id}/{deployer}(Deployer)", team_id) for p in ("deploy:run", "team:read")
    }

    # Step 7: data isolation: the member sees the teams of the organisation their token is for.
    owner_b, org_b = api.owner_with_org()
    member_in_b = joined(api, member, org_b["id"])
    team_b = made_team(api, owner_b, "Billing")
    assert add_to_team(api, owner_b, team_b, member.user_id).status_code == 201
    assert my_team_ids(api, member) == [team_id]
    assert my_team_ids(api, member_in_b) == [team_b]
    other = api.client.get(org_path(member, "teams", team_b), headers=member.auth)
    assert other.status_code == 404, other.text
    assert other.json()["code"] == "team_not_found"

    # Step 8: the team's creation and membership changes are on record, and so is the refusal,
    # in the organisation the member's token is for.
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "team:read", "team_not_found", team_b, org["id"])
    ]
    assert refusals(store_target, org_b["id"]) == []
    events = [e for e in audit_events(store_target, org_id=org["id"]) if e.resource_id == team_id]
    assert [(e.event_type, e.action, e.outcome) for e in events] == [
        (EventType.CONFIGURATION, "team.create", Outcome.SUCCESS),
        (EventType.TEAM_MEMBERSHIP, "team.member_add", Outcome.SUCCESS),
        (EventType.TEAM_MEMBERSHIP, "team.member_role", Outcome.SUCCESS),
        (EventType.TEAM_MEMBERSHIP, "team.member_role", Outcome.SUCCESS),
    ]
    create_event, add_event, lead_event, custom_event = events
    assert create_event.details == {
        "before": None,
        "after": {"name": "Platform", "description": ""},
        "authz_epoch": start + 1,
    }
    assert add_event.details == {
        "before": None,
        "after": {"team_role": "MEMBER"},
        "authz_epoch": start + 2,
        "user_id": member.user_id,
    }
    assert (lead_event.details["before"], lead_event.details["after"]) == (
        {"team_role": "MEMBER"},
        {"team_role": "LEAD"},
    )
    assert (custom_event.details["before"], custom_event.details["after"]) == (
        {"team_role": "LEAD"},
        {"team_role": deployer},
    )
    assert all(e.actor_id == owner.user_id for e in events)


# --- the seed's team cases ----------------------------------------------------------------


def test_add_member_increments_team_count(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    first, second = api.member_of(org["id"]), api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")

    counts = []
    for account in (first, second):
        assert add_to_team(api, owner, team_id, account.user_id).status_code == 201
        counts.append(member_count(api, org["id"], team_id))

    assert counts == [1, 2]
    assert sorted(team_members(api, org["id"], team_id)) == sorted(
        [(first.user_id, "MEMBER"), (second.user_id, "MEMBER")]
    )
    adds = audit_events(store_target, org_id=org["id"], action="team.member_add")
    assert sorted(e.details["user_id"] for e in adds) == sorted([first.user_id, second.user_id])


def test_user_teams_query_returns_all_their_teams_in_that_organisation_only(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    first = made_team(api, owner, "Platform")
    clock.advance(seconds=1)
    second = made_team(api, owner, "Payments")
    clock.advance(seconds=1)
    made_team(api, owner, "Not theirs")
    for team_id in (second, first):
        assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    owner_b, org_b = api.owner_with_org()
    in_b = joined(api, member, org_b["id"])
    team_b = made_team(api, owner_b, "Platform")
    assert add_to_team(api, owner_b, team_b, member.user_id).status_code == 201

    response = api.client.get("/v1/me/teams", headers=member.auth)

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(t["id"], t["name"], t["member_count"]) for t in items] == [
        (first, "Platform", 1),
        (second, "Payments", 1),
    ]
    assert my_team_ids(api, in_b) == [team_b]
    assert my_team_ids(api, log_in_again(api, member)) == []  # a token for no organisation
    access = permissions_of(api, member, member.user_id).json()
    assert access["team_ids"] == sorted([first, second])


def test_data_isolation_between_orgs(api: Api, store_target: StoreTarget) -> None:
    owner_a, org_a = api.owner_with_org()
    owner_b, org_b = api.owner_with_org()
    team_b = made_team(api, owner_b, "Other org team")
    epoch_b = stored_epoch(api.tenantry, org_b["id"])

    through_a = api.client.get(
        f"/v1/organisations/{org_b['id']}/teams/{team_b}", headers=owner_a.auth
    )
    under_a = api.client.get(org_path(owner_a, "teams", team_b), headers=owner_a.auth)
    join = api.client.post(
        f"/v1/organisations/{org_b['id']}/teams/{team_b}/members",
        json={"user_id": owner_a.user_id, "team_role": "LEAD"},
        headers=owner_a.auth,
    )
    listed = api.client.get(org_path(owner_a, "teams"), headers=owner_a.auth)

    assert through_a.status_code == 404, through_a.text
    assert through_a.json()["code"] == "organisation_not_found"
    assert under_a.status_code == 404, under_a.text
    assert under_a.json()["code"] == "team_not_found"
    assert join.status_code == 404, join.text
    assert join.json()["code"] == "organisation_not_found"
    assert listed.json()["items"] == []
    assert my_team_ids(api, owner_a) == []
    assert stored_team_members(api.tenantry, org_b["id"], team_b) == []
    assert stored_epoch(api.tenantry, org_b["id"]) == epoch_b
    assert refusals(store_target, org_a["id"]) == [
        (*DENIED, "team:member:add", "other_organisation", team_b, org_a["id"]),
        (*DENIED, "team:read", "other_organisation", team_b, org_a["id"]),
        (*DENIED, "team:read", "team_not_found", team_b, org_a["id"]),
    ]
    assert audit_events(store_target, org_id=org_b["id"], actor_id=owner_a.user_id) == []


# --- who joins ------------------------------------------------------------------------------


def test_only_members_of_the_organisation_join_its_teams(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    outsider, _ = api.owner_with_org()  # a user of another organisation
    team_id = made_team(api, owner, "Platform")
    before = stored_epoch(api.tenantry, org["id"])

    refused = add_to_team(api, owner, team_id, outsider.user_id)
    unknown = add_to_team(api, owner, team_id, "usr_doesnotexist0000000000000")

    for response in (refused, unknown):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "member_not_found"
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    assert member_count(api, org["id"], team_id) == 0
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert successes(store_target, org["id"], "team.member_add") == []
    not_a_member = (*DENIED, "team.member_add", "member_not_found", team_id, org["id"])
    assert refusals(store_target, org["id"]) == [not_a_member, not_a_member]


def test_adding_a_team_member_twice_is_refused(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    again = add_to_team(api, owner, team_id, member.user_id, "LEAD")

    assert again.status_code == 409, again.text
    assert again.json()["code"] == "already_team_member"
    assert EPOCH not in again.headers
    assert team_members(api, org["id"], team_id) == [(member.user_id, "MEMBER")]
    assert member_count(api, org["id"], team_id) == 1
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert successes(store_target, org["id"], "team.member_add") == [team_id]
    assert refusals(store_target, org["id"]) == [
        (*MEMBERSHIP_FAILED, "team.member_add", "already_team_member", team_id, org["id"])
    ]


def test_an_invalid_team_role_is_refused(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    org_wide = made_role(api, owner, "Viewer", ["site:read"])

    invalid = add_to_team(api, owner, team_id, member.user_id, "CAPTAIN")
    lowercase = add_to_team(api, owner, team_id, member.user_id, "lead")
    wrong_scope = add_to_team(api, owner, team_id, member.user_id, org_wide)
    no_such_role = add_to_team(api, owner, team_id, member.user_id, "rol_doesnotexist00000000000")

    for response in (invalid, lowercase):
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_team_role"
    assert wrong_scope.status_code == 422, wrong_scope.text
    assert wrong_scope.json()["code"] == "role_scope_mismatch"
    assert no_such_role.status_code == 404, no_such_role.text
    assert no_such_role.json()["code"] == "role_not_found"
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    assert member_count(api, org["id"], team_id) == 0
    assert successes(store_target, org["id"], "team.member_add") == []
    not_a_team_role = (
        *MEMBERSHIP_FAILED,
        "team.member_add",
        "invalid_team_role",
        team_id,
        org["id"],
    )
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "team.member_add", "role_not_found", team_id, org["id"]),
        not_a_team_role,
        not_a_team_role,
        (*MEMBERSHIP_FAILED, "team.member_add", "role_scope_mismatch", team_id, org["id"]),
    ]


# --- who manages a team ----------------------------------------------------------------------


def test_a_lead_manages_their_own_teams_members_but_not_another_teams(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    lead, newcomer, bystander = (api.member_of(org["id"]) for _ in range(3))
    own = made_team(api, owner, "Platform")
    other = made_team(api, owner, "Payments")
    assert add_to_team(api, owner, own, lead.user_id, "LEAD").status_code == 201
    assert add_to_team(api, owner, other, bystander.user_id).status_code == 201

    added = add_to_team(api, lead, own, newcomer.user_id)
    promoted = set_team_role(api, lead, own, newcomer.user_id, "LEAD")
    removed = remove_from_team(api, lead, own, newcomer.user_id)
    clock.advance(seconds=1)
    add_elsewhere = add_to_team(api, lead, other, newcomer.user_id)
    clock.advance(seconds=1)
    remove_elsewhere = remove_from_team(api, lead, other, bystander.user_id)

    assert (added.status_code, promoted.status_code, removed.status_code) == (201, 200, 204)
    assert team_members(api, org["id"], own) == [(lead.user_id, "LEAD")]
    assert member_count(api, org["id"], own) == 1
    for refused, permission in (
        (add_elsewhere, "team:member:add"),
        (remove_elsewhere, "team:member:remove"),
    ):
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["permission"]) == (
            "permission_denied",
            permission,
        )
    assert team_members(api, org["id"], other) == [(bystander.user_id, "MEMBER")]
    assert member_count(api, org["id"], other) == 1
    denied = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.action, e.reason, e.resource_id) for e in denied] == [
        (lead.user_id, "team:member:add", "missing_permission", other),
        (lead.user_id, "team:member:remove", "missing_permission", other),
    ]
    own_events = audit_events(store_target, org_id=org["id"], actor_id=lead.user_id)
    assert sorted(
        (e.action, e.resource_id, e.details["user_id"])
        for e in own_events
        if e.action.startswith("team.") and e.outcome is Outcome.SUCCESS
    ) == [
        ("team.member_add", own, newcomer.user_id),
        ("team.member_remove", own, newcomer.user_id),
        ("team.member_role", own, newcomer.user_id),
    ]


def test_a_lead_cannot_give_a_team_role_that_grants_what_they_lack(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    lead, newcomer = api.member_of(org["id"]), api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    deployer = made_role(api, owner, "Deployer", ["deploy:run", "team:read"], scope="TEAM")
    assert add_to_team(api, owner, team_id, lead.user_id, "LEAD").status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    refused = add_to_team(api, lead, team_id, newcomer.user_id, deployer)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["missing"]) == (
        "permission_escalation",
        ["deploy:run"],
    )
    assert team_members(api, org["id"], team_id) == [(lead.user_id, "LEAD")]
    assert member_count(api, org["id"], team_id) == 1
    assert stored_epoch(api.tenantry, org["id"]) == before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason, denied.resource_id, denied.details) == (
        lead.user_id,
        "team.member_add",
        "permission_escalation",
        team_id,
        {"missing": ["deploy:run"]},
    )


def test_nobody_changes_their_own_team_role(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    lead = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, lead.user_id, "LEAD").status_code == 201

    refused = set_team_role(api, lead, team_id, lead.user_id, "MEMBER")

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "cannot_change_own_role"
    assert team_members(api, org["id"], team_id) == [(lead.user_id, "LEAD")]
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason) == (
        lead.user_id,
        "team.member_role",
        "cannot_change_own_role",
    )


def test_a_plain_member_may_not_manage_team_members(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member, other = api.member_of(org["id"]), api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201

    refused = add_to_team(api, member, team_id, other.user_id)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "team:member:add",
    )
    assert team_members(api, org["id"], team_id) == [(member.user_id, "MEMBER")]
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason) == (
        member.user_id,
        "team:member:add",
        "missing_permission",
    )


# --- leaving, removing, deleting -------------------------------------------------------------


def test_removing_a_member_decrements_the_count(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    first, second = api.member_of(org["id"]), api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    for account in (first, second):
        assert add_to_team(api, owner, team_id, account.user_id).status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    removed = remove_from_team(api, owner, team_id, first.user_id)
    again = remove_from_team(api, owner, team_id, first.user_id)

    assert removed.status_code == 204, removed.text
    assert epoch_of(removed) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert again.status_code == 404, again.text
    assert again.json()["code"] == "team_member_not_found"
    assert team_members(api, org["id"], team_id) == [(second.user_id, "MEMBER")]
    assert member_count(api, org["id"], team_id) == 1
    assert my_team_ids(api, first) == []
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "team.member_remove", "team_member_not_found", team_id, org["id"])
    ]
    [event] = audit_events(
        store_target, org_id=org["id"], action="team.member_remove", outcome=Outcome.SUCCESS
    )
    assert (event.event_type, event.actor_id, event.details) == (
        EventType.TEAM_MEMBERSHIP,
        owner.user_id,
        {
            "before": {"team_role": "MEMBER"},
            "after": None,
            "authz_epoch": before + 1,
            "user_id": first.user_id,
        },
    )


def test_a_member_leaves_a_team_without_any_permission(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    left = remove_from_team(api, member, team_id, member.user_id)

    assert left.status_code == 204, left.text
    assert epoch_of(left) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    assert member_count(api, org["id"], team_id) == 0
    assert my_team_ids(api, member) == []
    [event] = audit_events(store_target, org_id=org["id"], action="team.member_leave")
    assert (event.actor_id, event.outcome, event.details["user_id"]) == (
        member.user_id,
        Outcome.SUCCESS,
        member.user_id,
    )
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []


def test_deleting_a_team_ends_its_memberships(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    lead, member = api.member_of(org["id"]), api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, lead.user_id, "LEAD").status_code == 201
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    before = stored_epoch(api.tenantry, org["id"])

    deleted = api.client.delete(org_path(owner, "teams", team_id), headers=owner.auth)

    assert deleted.status_code == 204, deleted.text
    assert epoch_of(deleted) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert stored_team(api.tenantry, org["id"], team_id) is None
    assert stored_team_members(api.tenantry, org["id"], team_id) == []
    gone = api.client.get(org_path(owner, "teams", team_id), headers=owner.auth)
    assert gone.status_code == 404, gone.text
    assert gone.json()["code"] == "team_not_found"
    for account in (lead, member):
        assert my_team_ids(api, account) == []
        assert all(team is None for _, _, team in grants_of(api, account, account.user_id))
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "team:read", "team_not_found", team_id, org["id"])
    ]
    [event] = audit_events(store_target, org_id=org["id"], action="team.delete")
    assert (event.event_type, event.details["before"], event.details["authz_epoch"]) == (
        EventType.CONFIGURATION,
        {"name": "Platform", "description": ""},
        before + 1,
    )
    assert sorted(event.details["members_removed"]) == sorted([lead.user_id, member.user_id])
