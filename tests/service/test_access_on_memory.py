"""The access model through the real app on `memory://`: the same use cases, the same
preconditions, the single-table store's shapes."""

from __future__ import annotations

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import Outcome
from tests.access_builders import (
    EPOCH,
    add_to_team,
    assign,
    made_role,
    made_team,
    permissions_of,
    set_org_role,
    stored_epoch,
    stored_team,
)
from tests.harness import Api


def test_a_custom_role_and_a_team_role_grant_what_they_say_on_memory(memory_api: Api) -> None:
    owner, org = memory_api.owner_with_org()
    member = memory_api.member_of(org["id"])
    role_id = made_role(memory_api, owner, "Site editor", ["site:*"])
    team_id = made_team(memory_api, owner, "Web")

    assigned = assign(memory_api, owner, member.user_id, role_id)
    joined = add_to_team(memory_api, owner, team_id, member.user_id, "LEAD")

    assert (assigned.status_code, joined.status_code) == (200, 201), joined.text
    assert int(joined.headers[EPOCH]) == int(assigned.headers[EPOCH]) + 1
    assert int(joined.headers[EPOCH]) == stored_epoch(memory_api.tenantry, org["id"])
    grants = {
        (g["permission"], g["grant"], g["team_id"])
        for g in permissions_of(memory_api, member, member.user_id).json()["permissions"]
    }
    assert ("site:*", f"role:{role_id}(Site editor)", None) in grants
    assert ("team:member:add", f"team:{team_id}/LEAD", team_id) in grants
    team = stored_team(memory_api.tenantry, org["id"], team_id)
    assert team is not None
    assert team.member_count == 1
    with memory_api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        changes = uow.audit.find(AuditQuery(org_id=org["id"], outcome=Outcome.SUCCESS))
    assert {"role.create", "role.assign", "team.create", "team.member_add"} <= {
        e.action for e in changes
    }


def test_the_last_owner_stays_on_memory(memory_api: Api) -> None:
    owner, org = memory_api.owner_with_org()
    admin = memory_api.member_of(org["id"])
    promoted = set_org_role(memory_api, owner, admin.user_id, "ADMIN")
    assert promoted.status_code == 200, promoted.text

    left = memory_api.client.delete(
        f"/v1/organisations/{org['id']}/members/{owner.user_id}", headers=owner.auth
    )

    assert left.status_code == 409, left.text
    assert left.json()["code"] == "last_owner"
    assert stored_epoch(memory_api.tenantry, org["id"]) == int(promoted.headers[EPOCH])
    with memory_api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        refused = uow.audit.find(AuditQuery(org_id=org["id"], action="member.leave"))
    assert [(e.outcome, e.reason, e.actor_id) for e in refused] == [
        (Outcome.DENIED, "last_owner", owner.user_id)
    ]
