"""Section 4 of seeds/001 ("DynamoDB integration tests"), made real: its cases poked a table
with hand-written items; here tenantry's own services write them, through the HTTP API, on
AWS's DynamoDB Local, and the test reads the table back to show the single-table design did
what the seed asked of it.

- CRUD: a role is created, read, has its permissions replaced and is deleted, each visible as
  the item `ORG#<org>` / `ROLE#<role>` and through the API.
- Conditional writes: a second role of the same name is refused (its name's item is written
  with `attribute_not_exists`), and nothing of it is left.
- GSI queries: the organisation's teams (GSI2) and a member's teams in it (GSI1).
- Pagination: ten teams read three at a time through the index, each once, in order.
- Transactions: a team member and the team's `member_count` are written together; a refused
  add changes neither; a team of more members than one transaction holds is deleted whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tenantry.access.checks import load_access
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import Conflict
from tenantry.domain.ids import new_id
from tenantry.domain.roles import RoleAssignment
from tenantry.domain.teams import TeamMembership
from tenantry.settings import dynamo_target
from tenantry.store.dynamo.store import DynamoStore, dynamo_client
from tests import access_builders as access
from tests.harness import Account, Api, StoreTarget, audit_events
from tests.integration.test_authorize import check

pytestmark = pytest.mark.parametrize("store_target", ["dynamo"], indirect=True)


class Table:
    """The test's own view of the table: items by key and by index, as DynamoDB keeps them."""

    def __init__(self, target: StoreTarget) -> None:
        where = dynamo_target(target.url)
        self._client, self._name = dynamo_client(where), where.table

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self._client.get_item(
            TableName=self._name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = found.get("Item")
        return item

    def partition(self, index: str, pk: str) -> list[dict[str, Any]]:
        found = self._client.query(
            TableName=self._name,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        items: list[dict[str, Any]] = found["Items"]
        return items


def test_a_role_is_created_read_updated_and_deleted_as_one_item_of_its_organisation(
    api: Api, store_target: StoreTarget
) -> None:
    table = Table(store_target)
    owner, org = api.owner_with_org()
    role_id = access.made_role(api, owner, "Test role", ["test:read"])
    stored = table.item(f"ORG#{org['id']}", f"ROLE#{role_id}")
    read = api.client.get(access.org_path(owner, "roles", role_id), headers=owner.auth)

    updated = api.client.patch(
        access.org_path(owner, "roles", role_id),
        json={"permissions": ["test:read", "test:write"]},
        headers=owner.auth,
    )
    after_update = table.item(f"ORG#{org['id']}", f"ROLE#{role_id}")
    deleted = api.client.delete(access.org_path(owner, "roles", role_id), headers=owner.auth)

    assert stored is not None
    assert stored["name"]["S"] == "Test role"
    assert read.json()["permissions"] == ["test:read"]
    assert updated.status_code == 200, updated.text
    assert after_update is not None
    assert [p["S"] for p in after_update["permissions"]["L"]] == ["test:read", "test:write"]
    assert updated.json()["permissions"] == ["test:read", "test:write"]
    assert deleted.status_code == 204, deleted.text
    assert table.item(f"ORG#{org['id']}", f"ROLE#{role_id}") is None
    assert table.item(f"ROLENAME#{org['id']}#test role", "UNIQUE") is None
    after = api.client.get(access.org_path(owner, "roles", role_id), headers=owner.auth)
    assert after.status_code == 404
    events = audit_events(store_target, org_id=org["id"], resource_id=role_id)
    changes = [e.action for e in events if e.action.startswith("role.")]
    assert changes == ["role.create", "role.update", "role.delete"]


def test_a_role_of_a_taken_name_is_refused_by_the_names_condition_and_leaves_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    table = Table(store_target)
    owner, org = api.owner_with_org()
    first = access.made_role(api, owner, "Editors", ["site:read"])

    again = access.create_role(api, owner, "EDITORS", ["site:write"])

    assert again.status_code == 409
    assert again.json()["code"] == "role_name_taken"
    name = table.item(f"ROLENAME#{org['id']}#editors", "UNIQUE")
    assert name is not None
    assert name["role_id"]["S"] == first
    listed = api.client.get(access.org_path(owner, "roles"), headers=owner.auth).json()["items"]
    assert [role["id"] for role in listed] == [first]


def test_an_organisations_teams_and_a_members_teams_are_read_through_their_indexes(
    api: Api, store_target: StoreTarget
) -> None:
    table = Table(store_target)
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    teams = [access.made_team(api, owner, name) for name in ("Red", "Green", "Blue")]
    for team_id in teams[:2]:
        assert access.add_to_team(api, owner, team_id, member.user_id).status_code == 201

    of_org = table.partition("GSI2", f"ORG#{org['id']}#TEAMS")
    of_member = table.partition("GSI1", f"ORG#{org['id']}#USER#{member.user_id}")
    listed = api.client.get(access.org_path(owner, "teams"), headers=owner.auth).json()["items"]
    permissions = access.permissions_of(api, owner, member.user_id)

    assert sorted(item["id"]["S"] for item in of_org) == sorted(teams)
    assert sorted(item["team_id"]["S"] for item in of_member) == sorted(teams[:2])
    # By creation time, then id, as the index orders them (the test's clock stands still).
    assert [team["id"] for team in listed] == sorted(teams)
    assert permissions.status_code == 200, permissions.text
    team_scoped = {p["team_id"] for p in permissions.json()["permissions"]} - {None}
    assert team_scoped == set(teams[:2])


def test_ten_teams_read_three_at_a_time_come_once_each_in_order(api: Api) -> None:
    owner, _ = api.owner_with_org()
    made = [access.made_team(api, owner, f"Team {n:02d}") for n in range(10)]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(access.org_path(owner, "teams"), params=params, headers=owner.auth)
        assert page.status_code == 200, page.text
        pages.append([team["id"] for team in page.json()["items"]])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert [team_id for page in pages for team_id in page] == sorted(made)  # same time: by id


def test_a_team_member_and_the_teams_count_are_written_together_or_not_at_all(
    api: Api, store_target: StoreTarget
) -> None:
    table = Table(store_target)
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = access.made_team(api, owner, "Counted")

    added = access.add_to_team(api, owner, team_id, member.user_id)
    twice = access.add_to_team(api, owner, team_id, member.user_id)

    assert added.status_code == 201, added.text
    assert (twice.status_code, twice.json()["code"]) == (409, "already_team_member")
    team = table.item(f"ORG#{org['id']}", f"TEAM#{team_id}")
    assert team is not None
    assert team["member_count"]["N"] == "1"
    members = table.partition("GSI2", f"TEAM#{org['id']}#{team_id}#MEMBERS")
    assert [item["user_id"]["S"] for item in members] == [member.user_id]
    adds = audit_events(store_target, org_id=org["id"], action="team.member_add")
    assert [e.outcome.value for e in adds] == ["SUCCESS", "FAILURE"]


def test_deleting_a_team_of_more_members_than_one_transaction_holds_ends_every_membership(
    api: Api, store_target: StoreTarget
) -> None:
    """120 memberships and more would not fit in DynamoDB's one transaction of 100 items: the
    team's deletion commits alone, and its memberships are deleted after it."""
    table = Table(store_target)
    owner, org = api.owner_with_org()
    team_id = access.made_team(api, owner, "Crowd")
    member = api.member_of(org["id"])
    assert access.add_to_team(api, owner, team_id, member.user_id).status_code == 201
    joined = datetime.now(UTC)
    for _batch in range(3):  # straight into the store, 40 to a transaction
        with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
            for _ in range(40):
                uow.team_memberships.add(
                    TeamMembership(org["id"], team_id, new_id("usr"), "MEMBER", joined)
                )
            uow.teams.add_to_member_count(org["id"], team_id, 40)
            uow.commit()

    deleted = api.client.delete(access.org_path(owner, "teams", team_id), headers=owner.auth)

    assert deleted.status_code == 204, deleted.text
    assert table.item(f"ORG#{org['id']}", f"TEAM#{team_id}") is None
    assert table.partition("GSI2", f"TEAM#{org['id']}#{team_id}#MEMBERS") == []
    assert api.client.get("/v1/me/teams", headers=member.auth).json()["items"] == []
    [event] = audit_events(store_target, org_id=org["id"], action="team.delete")
    assert event.outcome is Outcome.SUCCESS
    assert len(event.details["members_removed"]) == 121


def test_the_memberships_a_deleted_team_leaves_until_they_are_deleted_grant_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    """Between the team's deletion and its memberships' (or if deleting them failed), a
    membership of the team is still in the table: no read across teams shows it."""
    table = Table(store_target)
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = access.made_team(api, owner, "Leaving")
    made = access.create_role(api, owner, "Team publisher", ["site:publish"], scope="TEAM")
    role_id = made.json()["id"]
    added = access.add_to_team(api, owner, team_id, member.user_id, role_id)
    assert added.status_code == 201, added.text
    granted = check(api, member, org["id"], "site:publish", team_id=team_id).json()
    epoch = access.stored_epoch(api.tenantry, org["id"])
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        uow.teams.delete(org["id"], team_id)  # what the deletion commits, and nothing after
        uow.organisations.bump_authz_epoch(org["id"], expected=epoch)
        uow.commit()

    denied = check(api, member, org["id"], "site:publish", team_id=team_id).json()
    mine = api.client.get("/v1/me/teams", headers=member.auth).json()["items"]

    assert granted["allowed"] is True
    assert table.partition("GSI2", f"TEAM#{org['id']}#{team_id}#MEMBERS") != []  # still there
    assert (denied["allowed"], mine) == (False, [])
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        assert uow.team_memberships.list_with_role(org["id"], role_id) == []


def test_what_a_deleted_role_leaves_until_it_is_tidied_grants_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    """Between a role's deletion and the tidying of its holds (or if that failed), its
    assignment and team role are still in the table: a member's assignments leave it out,
    and the team role reads as MEMBER."""
    table = Table(store_target)
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    org_role = access.made_role(api, owner, "Leaving publisher", ["site:publish"])
    team_role = access.made_role(api, owner, "Leaving lead", ["site:deploy"], scope="TEAM")
    team_id = access.made_team(api, owner, "Leaving")
    assert access.assign(api, owner, member.user_id, org_role).status_code in (200, 201)
    added = access.add_to_team(api, owner, team_id, member.user_id, team_role)
    assert added.status_code == 201, added.text
    granted = [
        check(api, member, org["id"], "site:publish").json()["allowed"],
        check(api, member, org["id"], "site:deploy", team_id=team_id).json()["allowed"],
    ]
    epoch = access.stored_epoch(api.tenantry, org["id"])
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        for role_id in (org_role, team_role):  # what the deletions commit, and nothing after
            uow.roles.delete(org["id"], role_id)
        uow.organisations.bump_authz_epoch(org["id"], expected=epoch)
        uow.commit()

    denied = [
        check(api, member, org["id"], "site:publish").json()["allowed"],
        check(api, member, org["id"], "site:deploy", team_id=team_id).json()["allowed"],
    ]
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        assignments = uow.role_assignments.list_for_member(org["id"], member.user_id)
        in_team = uow.team_memberships.get(org["id"], team_id, member.user_id)
        holders = uow.team_memberships.list_with_role(org["id"], team_role)

    assert granted == [True, True]
    assert table.partition("GSI1", f"ORG#{org['id']}#ROLE#{org_role}") != []  # still there
    assert table.partition("GSI3", f"ORG#{org['id']}#TEAMROLE#{team_role}") != []
    assert denied == [False, False]
    assert assignments == []
    assert in_team is not None
    assert (in_team.team_role, holders) == ("MEMBER", [])


def test_deleting_a_role_more_members_hold_than_one_transaction_holds_ends_every_hold(
    api: Api, store_target: StoreTarget
) -> None:
    """120 assignments of an organisation role, and 120 team members holding a team role:
    each role's deletion commits alone, and what held it is tidied after."""
    table = Table(store_target)
    owner, org = api.owner_with_org()
    org_role = access.made_role(api, owner, "Crowd role", ["site:read"])
    team_role = access.made_role(api, owner, "Crowd lead", ["site:publish"], scope="TEAM")
    team_id = access.made_team(api, owner, "Crowd")
    joined = datetime.now(UTC)
    for _batch in range(3):  # straight into the store, 40 of each to a transaction
        with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
            for _ in range(40):
                user_id = new_id("usr")
                uow.role_assignments.add(
                    RoleAssignment(org["id"], user_id, org_role, joined, owner.user_id)
                )
                uow.team_memberships.add(
                    TeamMembership(org["id"], team_id, user_id, team_role, joined)
                )
            uow.commit()

    deleted = [access.delete_role(api, owner, role) for role in (org_role, team_role)]

    assert [response.status_code for response in deleted] == [204, 204]
    assert table.partition("GSI1", f"ORG#{org['id']}#ROLE#{org_role}") == []
    assert table.partition("GSI3", f"ORG#{org['id']}#TEAMROLE#{team_role}") == []
    members = table.partition("GSI2", f"TEAM#{org['id']}#{team_id}#MEMBERS")
    assert {item["team_role"]["S"] for item in members} == {"MEMBER"}
    assert len(members) == 120
    events = audit_events(store_target, org_id=org["id"], action="role.delete")
    assert [(len(e.details["unassigned"]), len(e.details["team_roles_reset"])) for e in events] == [
        (120, 0),
        (0, 120),
    ]


def test_a_unit_of_work_of_more_items_than_one_transaction_holds_is_refused_whole(
    api: Api, store_target: StoreTarget
) -> None:
    """No use case writes so much by design; were one to, it is refused, never split."""
    table = Table(store_target)
    owner, org = api.owner_with_org()
    team_id = access.made_team(api, owner, "Too many")
    joined = datetime.now(UTC)

    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        for _ in range(101):
            uow.team_memberships.add(
                TeamMembership(org["id"], team_id, new_id("usr"), "MEMBER", joined)
            )
        with pytest.raises(Conflict) as refused:
            uow.commit()

    assert refused.value.code == "change_too_large"
    assert table.partition("GSI2", f"TEAM#{org['id']}#{team_id}#MEMBERS") == []


class Counted:
    """A DynamoDB client that counts the requests made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.requests: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.requests.append(name)
            return attribute(*args, **kwargs)

        return counted


def test_reading_a_members_access_costs_the_same_requests_whatever_they_hold(
    api: Api, store_target: StoreTarget
) -> None:
    """Hiding what a deleted team or role left costs one batch read, whatever the member
    holds; the roles it reads are read once in the unit of work, not again for the snapshot."""
    where = dynamo_target(store_target.url)
    owner, org = api.owner_with_org()
    few, many = api.member_of(org["id"]), api.member_of(org["id"])
    for member, count in ((few, 1), (many, 5)):
        for n in range(count):
            name = f"{member.user_id} {n}"
            role = access.made_role(api, owner, f"Role {name}", ["site:read"])
            lead = access.made_role(api, owner, f"Lead {name}", ["site:publish"], scope="TEAM")
            team = access.made_team(api, owner, f"Team {name}")
            assert access.assign(api, owner, member.user_id, role).status_code in (200, 201)
            assert access.add_to_team(api, owner, team, member.user_id, lead).status_code == 201

    def requests_to_read(member: Account) -> tuple[list[str], AccessSnapshot | None]:
        client = Counted(dynamo_client(where))
        with DynamoStore(client, where.table).unit_of_work(org_id=org["id"]) as uow:
            organisation = uow.organisations.get(org["id"])
            assert organisation is not None
            client.requests.clear()
            return client.requests, load_access(uow, organisation, member.user_id)

    read_few, access_of_few = requests_to_read(few)
    read_many, access_of_many = requests_to_read(many)

    assert access_of_few is not None
    assert access_of_many is not None
    assert (len(access_of_few.team_ids), len(access_of_many.team_ids)) == (1, 5)
    # The membership, the assignments, the roles they name, the teams (an index), and the
    # teams with their custom team roles.
    expected = ["get_item", "query", "batch_get_item", "query", "batch_get_item"]
    assert read_few == read_many == expected
