"""Access changes released at the same instant, through the HTTP app, on SQLite and PostgreSQL.

Every access change expects the organisation's `authz_epoch` it read and bumps it at commit,
so two changes decided on the same reads never both commit: the loser is run again by the
edge on fresh reads, and then decides on what the winner left. So two OWNERs demoting each
other end with one OWNER; two OWNERs leaving end with one; an assignment racing the deletion
of its role either lands before the deletion (and is removed by it) or finds no role; team
adds and removes all land and `member_count` stays exact. After every race the epoch has
moved by exactly the number of successes, and each success reported a different epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import AuditEvent, EventType, Outcome
from tenantry.domain.model import MembershipStatus
from tenantry.domain.roles import OrgRole
from tenantry.store.sql.tables import role_assignments, team_memberships
from tests.access_builders import (
    EPOCH,
    add_to_team,
    made_role,
    made_team,
    org_path,
    set_org_role,
    stored_assignments,
    stored_epoch,
    stored_team,
    stored_team_members,
)
from tests.concurrency.racing import active_members, race_requests
from tests.harness import Account, Api, StoreTarget, audit_events, privileged
from tests.org_builders import stored_membership

Request = Callable[[TestClient], Response]

DEMOTION_ROUNDS = 5
LEAVING_ROUNDS = 3
DELETION_ROUNDS = 3
ASSIGNERS = 6
TEAM_ADDERS = 4
TEAM_REMOVERS = 3
SAME_USER_ADDERS = 8

# Why the loser of a mutual demotion is refused, once it runs on what the winner left: it is
# no OWNER any more. PostgreSQL reads each statement at READ COMMITTED, so the loser may read
# itself as OWNER before the winner's commit and the owner list after it; the last-owner
# guard then sees the epoch moved and has the edge decide again (`refuse_only_if_current`),
# so the answer is the same on both stores.
OWNER_DEMOTION_REFUSALS = {(403, "owner_required")}


def demote(caller: Account, user_id: str) -> Request:
    path = org_path(caller, "members", user_id)
    return lambda client: client.patch(path, json={"org_role": "ADMIN"}, headers=caller.auth)


def leave(caller: Account) -> Request:
    path = org_path(caller, "members", caller.user_id)
    return lambda client: client.delete(path, headers=caller.auth)


def assign(caller: Account, user_id: str, role_id: str) -> Request:
    path = org_path(caller, "members", user_id, "roles", role_id)
    return lambda client: client.put(path, headers=caller.auth)


def delete_role(caller: Account, role_id: str) -> Request:
    path = org_path(caller, "roles", role_id)
    return lambda client: client.delete(path, headers=caller.auth)


def join_team(caller: Account, team_id: str, user_id: str) -> Request:
    path = org_path(caller, "teams", team_id, "members")
    body = {"user_id": user_id, "team_role": "MEMBER"}
    return lambda client: client.post(path, json=body, headers=caller.auth)


def leave_team(caller: Account, team_id: str, user_id: str) -> Request:
    path = org_path(caller, "teams", team_id, "members", user_id)
    return lambda client: client.delete(path, headers=caller.auth)


def assert_epoch_moved_once_per_success(
    tenantry: Tenantry, org_id: str, start: int, successes: list[Response]
) -> None:
    """The stored epoch moved by exactly the successes, and each reported its own epoch: one
    after another, with none skipped and none shared."""
    reported = sorted(int(response.headers[EPOCH]) for response in successes)
    assert reported == list(range(start + 1, start + len(successes) + 1))
    assert stored_epoch(tenantry, org_id) == start + len(successes)


def owners(tenantry: Tenantry, org_id: str) -> list[str]:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return sorted(m.user_id for m in uow.memberships.list_with_role(org_id, OrgRole.OWNER))


def events_after(target: StoreTarget, org_id: str, seen: list[AuditEvent]) -> list[AuditEvent]:
    """The organisation's audit events that are not in `seen`."""
    known = {event.event_id for event in seen}
    return [e for e in audit_events(target, org_id=org_id) if e.event_id not in known]


def outline(events: list[AuditEvent]) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """Who did what to whom, and why it was refused; in a stable order."""
    return sorted((e.action, e.outcome.value, e.actor_id, e.resource_id, e.reason) for e in events)


def test_two_owners_demoting_each_other_at_once_leave_exactly_one_owner(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    first, org = api.owner_with_org()
    second = api.member_of(org["id"], OrgRole.OWNER)

    for _ in range(DEMOTION_ROUNDS):
        start = stored_epoch(tenantry, org["id"])
        seen = audit_events(store_target, org_id=org["id"])
        answers = race_requests(
            api.client.app,
            [demote(first, second.user_id), demote(second, first.user_id)],
        )

        assert sorted(a.status_code // 100 for a in answers) == [2, 4], [a.text for a in answers]
        won, refused = sorted(answers, key=lambda a: a.status_code)
        winner, loser = (first, second) if answers[0] is won else (second, first)
        assert (won.status_code, won.json()["org_role"]) == (200, "ADMIN")
        reason = refused.json()["code"]
        assert (refused.status_code, reason) in OWNER_DEMOTION_REFUSALS, refused.text
        assert owners(tenantry, org["id"]) == [winner.user_id]
        assert_epoch_moved_once_per_success(tenantry, org["id"], start, [won])
        new = events_after(store_target, org["id"], seen)
        assert outline(new) == sorted(
            [
                ("member.role_change", "SUCCESS", winner.user_id, loser.user_id, None),
                ("member.role_change", "DENIED", loser.user_id, winner.user_id, reason),
            ]
        )
        demotion = next(e for e in new if e.outcome.value == "SUCCESS")
        assert demotion.details == {
            "before": {"org_role": "OWNER"},
            "after": {"org_role": "ADMIN"},
            "authz_epoch": start + 1,
        }

        restored = set_org_role(api, winner, loser.user_id, "OWNER")  # for the next round
        assert restored.status_code == 200, restored.text


def test_two_owners_leaving_at_once_leave_one_owner_behind(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    remaining, org = api.owner_with_org()

    for _ in range(LEAVING_ROUNDS):
        newcomer = api.member_of(org["id"], OrgRole.OWNER)
        start = stored_epoch(tenantry, org["id"])
        seen = audit_events(store_target, org_id=org["id"])
        answers = race_requests(api.client.app, [leave(remaining), leave(newcomer)])

        assert sorted(a.status_code for a in answers) == [204, 409], [a.text for a in answers]
        left, refused = sorted(answers, key=lambda a: a.status_code)
        leaver, stayer = (remaining, newcomer) if answers[0] is left else (newcomer, remaining)
        assert refused.json()["code"] == "last_owner"
        assert owners(tenantry, org["id"]) == [stayer.user_id]
        ended = stored_membership(tenantry, org["id"], leaver.user_id)
        assert ended is not None
        assert ended.status is MembershipStatus.ENDED
        assert_epoch_moved_once_per_success(tenantry, org["id"], start, [left])
        assert outline(events_after(store_target, org["id"], seen)) == sorted(
            [
                ("member.leave", "SUCCESS", leaver.user_id, leaver.user_id, None),
                ("member.leave", "DENIED", stayer.user_id, stayer.user_id, "last_owner"),
            ]
        )
        remaining = stayer


def test_assignments_racing_the_deletion_of_their_role_leave_no_assignment_behind(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    members = [user.id for user in active_members(tenantry, org["id"], ASSIGNERS)]

    for round_ in range(DELETION_ROUNDS):
        role_id = made_role(api, owner, f"Site editor {round_}", ["site:page:edit"])
        start = stored_epoch(tenantry, org["id"])
        seen = audit_events(store_target, org_id=org["id"])
        *assigns, deletion = race_requests(
            api.client.app,
            [assign(owner, user_id, role_id) for user_id in members]
            + [delete_role(owner, role_id)],
        )

        assert deletion.status_code == 204, deletion.text
        assert {a.status_code for a in assigns} <= {200, 404}, [a.text for a in assigns]
        assert {a.json()["code"] for a in assigns if a.status_code == 404} <= {"role_not_found"}
        landed = [a for a in assigns if a.status_code == 200]
        assigned = sorted(a.json()["user_id"] for a in landed)
        too_late = sorted(set(members) - set(assigned))
        # An assignment that succeeded committed before the deletion, which then removed it.
        assert all(int(a.headers[EPOCH]) < int(deletion.headers[EPOCH]) for a in landed)
        gone = api.client.get(org_path(owner, "roles", role_id), headers=owner.auth)
        assert (gone.status_code, gone.json()["code"]) == (404, "role_not_found")
        for user_id in members:
            assert stored_assignments(tenantry, org["id"], user_id) == []
        assert assignment_rows_of_role(store_target, role_id) == 0
        assert_epoch_moved_once_per_success(tenantry, org["id"], start, [*landed, deletion])
        new = events_after(store_target, org["id"], seen)
        # An assignment that found no role is refused on record, about the member, as is the
        # read of the deleted role.
        assert outline(new) == sorted(
            [("role.assign", "SUCCESS", owner.user_id, user_id, None) for user_id in assigned]
            + [
                ("role.assign", "DENIED", owner.user_id, user_id, "role_not_found")
                for user_id in too_late
            ]
            + [
                ("role.delete", "SUCCESS", owner.user_id, role_id, None),
                ("role:read", "DENIED", owner.user_id, role_id, "role_not_found"),
            ]
        )
        assert {e.event_type for e in new if e.outcome is Outcome.DENIED} == {
            EventType.AUTHORIZATION
        }
        (removal,) = [e for e in new if e.action == "role.delete"]
        assert sorted(removal.details["unassigned"]) == assigned


def test_simultaneous_team_adds_and_removes_all_land_and_keep_the_count_exact(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    team_id = made_team(api, owner, "Platform")
    staying, *removed = [u.id for u in active_members(tenantry, org["id"], TEAM_REMOVERS + 1)]
    joining = [user.id for user in active_members(tenantry, org["id"], TEAM_ADDERS)]
    for user_id in [staying, *removed]:
        added = add_to_team(api, owner, team_id, user_id)
        assert added.status_code == 201, added.text
    start = stored_epoch(tenantry, org["id"])
    seen = audit_events(store_target, org_id=org["id"])

    answers = race_requests(
        api.client.app,
        [join_team(owner, team_id, user_id) for user_id in joining]
        + [leave_team(owner, team_id, user_id) for user_id in removed],
    )

    assert [a.status_code for a in answers] == [201] * TEAM_ADDERS + [204] * TEAM_REMOVERS, [
        a.text for a in answers
    ]
    expected = sorted([staying, *joining])
    assert sorted(m.user_id for m in stored_team_members(tenantry, org["id"], team_id)) == expected
    assert_team_count_is_exact(tenantry, store_target, org["id"], team_id, len(expected))
    assert_epoch_moved_once_per_success(tenantry, org["id"], start, answers)
    new = events_after(store_target, org["id"], seen)
    assert sorted((e.action, e.outcome.value, e.details["user_id"]) for e in new) == sorted(
        [("team.member_add", "SUCCESS", user_id) for user_id in joining]
        + [("team.member_remove", "SUCCESS", user_id) for user_id in removed]
    )


def test_many_adds_of_the_same_user_to_a_team_give_one_201_and_the_rest_409(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    team_id = made_team(api, owner, "Platform")
    (user,) = active_members(tenantry, org["id"], 1)
    start = stored_epoch(tenantry, org["id"])
    seen = audit_events(store_target, org_id=org["id"])

    answers = race_requests(api.client.app, [join_team(owner, team_id, user.id)] * SAME_USER_ADDERS)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (SAME_USER_ADDERS - 1), [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"already_team_member"}
    assert [m.user_id for m in stored_team_members(tenantry, org["id"], team_id)] == [user.id]
    assert_team_count_is_exact(tenantry, store_target, org["id"], team_id, 1)
    assert_epoch_moved_once_per_success(
        tenantry, org["id"], start, [a for a in answers if a.status_code == 201]
    )
    new = events_after(store_target, org["id"], seen)
    added = [e for e in new if e.outcome is Outcome.SUCCESS]
    assert [(e.action, e.details["user_id"]) for e in added] == [("team.member_add", user.id)]
    # Every loser is refused on record: one that raced the winner lost at the epoch bump (the
    # change's first write), was decided again on fresh reads, and found the membership.
    refused = [e for e in new if e.outcome is not Outcome.SUCCESS]
    assert len(refused) == SAME_USER_ADDERS - 1
    assert {
        (e.event_type, e.outcome, e.action, e.actor_id, e.reason, e.resource_id, e.org_id)
        for e in refused
    } <= {
        (
            EventType.TEAM_MEMBERSHIP,
            Outcome.FAILURE,
            "team.member_add",
            owner.user_id,
            "already_team_member",
            team_id,
            org["id"],
        )
    }


def assert_team_count_is_exact(
    tenantry: Tenantry, target: StoreTarget, org_id: str, team_id: str, expected: int
) -> None:
    """The team's `member_count` is the number of its membership rows, as the database
    holds them (read past row-level security), and the number expected."""
    team = stored_team(tenantry, org_id, team_id)
    assert team is not None
    with privileged(target) as db:
        rows = db.scalar(
            sa.select(sa.func.count())
            .select_from(team_memberships)
            .where(team_memberships.c.org_id == org_id, team_memberships.c.team_id == team_id)
        )
    assert (team.member_count, rows) == (expected, expected)


def assignment_rows_of_role(target: StoreTarget, role_id: str) -> int:
    with privileged(target) as db:
        count = db.scalar(
            sa.select(sa.func.count())
            .select_from(role_assignments)
            .where(role_assignments.c.role_id == role_id)
        )
    return int(count or 0)
