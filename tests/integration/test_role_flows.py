"""Custom roles through the HTTP API: seeds 001 flow 4 (role assignment) step by step, its
role cases rewritten to drive tenantry, validation, the dry run, wildcards and the rules
that stop anyone from granting what they do not hold."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.roles import MAX_PERMISSIONS_PER_ROLE, OrgRole, RoleAssignment, RoleScope
from tests.access_builders import (
    EPOCH,
    MEMBER_GRANTS,
    add_to_team,
    assign,
    create_role,
    delete_role,
    epoch_of,
    get_role,
    grants_of,
    held,
    made_role,
    made_team,
    org_path,
    patch_role,
    refusals,
    stored_assignments,
    stored_epoch,
    stored_role,
    stored_roles,
    stored_team_members,
    successes,
    unassign,
)
from tests.harness import ON_EVERY_STORE, Api, StoreTarget, TestClock, actions, audit_events

SITE_EDITOR = ["site:read", "site:publish", "site:page:edit"]

# How a refusal is on record: a 403 or a 404 is DENIED, any other is a FAILURE of its kind.
DENIED = (EventType.AUTHORIZATION, Outcome.DENIED)
ROLE_FAILED = (EventType.ROLE_CHANGE, Outcome.FAILURE)
EDIT_FAILED = (EventType.ROLE_CHANGE, Outcome.FAILURE)  # a refused `role.update`

pytestmark = ON_EVERY_STORE


def role_grants(
    role_id: str, name: str, permissions: list[str]
) -> set[tuple[str, str, str | None]]:
    return {(p, f"role:{role_id}({name})", None) for p in permissions}


def nothing_recorded_for(store_target: StoreTarget, org_id: str, action: str) -> bool:
    return audit_events(store_target, org_id=org_id, action=action) == []


# --- seeds 001 flow 4: role assignment, step by step -----------------------------------------


def test_flow_4_role_assignment_step_by_step(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    start = stored_epoch(api.tenantry, org["id"])

    # Step 1: an organisation role with permissions, a product permission among them.
    created = create_role(api, owner, "Site editor", SITE_EDITOR, description="Edits the site")
    assert created.status_code == 201, created.text
    role = created.json()
    role_id = role["id"]
    assert role_id.startswith("rol_")
    assert {k: v for k, v in role.items() if k not in ("id", "created_at")} == {
        "name": "Site editor",
        "description": "Edits the site",
        "permissions": SITE_EDITOR,
        "scope": "ORGANISATION",
        "updated_at": None,
    }
    assert epoch_of(created) == stored_epoch(api.tenantry, org["id"]) == start + 1
    clock.advance(seconds=1)

    # Step 2: assign it to a member.
    assigned = assign(api, owner, member.user_id, role_id)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json() == {
        "user_id": member.user_id,
        "role_id": role_id,
        "assigned_at": clock.now().isoformat().replace("+00:00", "Z"),
        "assigned_by": owner.user_id,
    }
    assert epoch_of(assigned) == stored_epoch(api.tenantry, org["id"]) == start + 2

    # Step 3: the assignment is in the store.
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == [
        RoleAssignment(org["id"], member.user_id, role_id, clock.now(), owner.user_id)
    ]
    clock.advance(seconds=1)

    # Step 4: the member's permissions resolve from their roles, each with its grant path.
    assert set(grants_of(api, owner, member.user_id)) == set(MEMBER_GRANTS) | role_grants(
        role_id, "Site editor", SITE_EDITOR
    )

    # Step 5: a permission is taken from the role.
    edited = patch_role(api, owner, role_id, {"permissions": ["site:read", "site:page:edit"]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["permissions"] == ["site:read", "site:page:edit"]
    assert edited.json()["updated_at"] is not None
    assert epoch_of(edited) == stored_epoch(api.tenantry, org["id"]) == start + 3
    stored = stored_role(api.tenantry, org["id"], role_id)
    assert stored is not None
    assert stored.permissions == ("site:read", "site:page:edit")

    # Step 6: the member no longer has it.
    now_held = held(api, member, member.user_id)
    assert "site:publish" not in now_held
    assert {"site:read", "site:page:edit"} <= now_held

    # Step 7: every change is on record, with before, after and the epoch it committed.
    events = [
        e
        for e in audit_events(store_target, org_id=org["id"])
        if e.action in ("role.create", "role.assign", "role.update")
    ]
    assert [(e.event_type, e.action, e.outcome, e.actor_id) for e in events] == [
        (EventType.ROLE_CHANGE, "role.create", Outcome.SUCCESS, owner.user_id),
        (EventType.ROLE_CHANGE, "role.assign", Outcome.SUCCESS, owner.user_id),
        (EventType.PERMISSION_CHANGE, "role.update", Outcome.SUCCESS, owner.user_id),
    ]
    create_event, assign_event, update_event = events
    assert create_event.resource_id == role_id
    assert create_event.details == {
        "before": None,
        "after": {
            "name": "Site editor",
            "description": "Edits the site",
            "permissions": SITE_EDITOR,
            "scope": "ORGANISATION",
        },
        "authz_epoch": start + 1,
    }
    assert assign_event.resource_id == member.user_id
    assert assign_event.details == {
        "before": {"role_ids": []},
        "after": {"role_ids": [role_id]},
        "authz_epoch": start + 2,
        "role_id": role_id,
        "role_name": "Site editor",
    }
    assert update_event.resource_id == role_id
    assert update_event.details["before"]["permissions"] == SITE_EDITOR
    assert update_event.details["after"]["permissions"] == ["site:read", "site:page:edit"]
    assert (update_event.details["added"], update_event.details["removed"]) == (
        [],
        ["site:publish"],
    )
    assert update_event.details["authz_epoch"] == start + 3


# --- the seed's role cases, driving tenantry ---------------------------------------------


def test_create_and_read_role(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()

    created = create_role(api, owner, "Test role", ["test:read"])
    read = get_role(api, owner, created.json()["id"])
    listed = api.client.get(org_path(owner, "roles"), headers=owner.auth)

    assert created.status_code == 201, created.text
    assert read.status_code == 200, read.text
    assert read.json() == created.json()
    assert (read.json()["name"], read.json()["permissions"]) == ("Test role", ["test:read"])
    assert listed.json() == {"items": [created.json()]}
    stored = stored_role(api.tenantry, org["id"], created.json()["id"])
    assert stored is not None
    assert (stored.name, stored.permissions, stored.scope) == (
        "Test role",
        ("test:read",),
        RoleScope.ORGANISATION,
    )
    assert actions(audit_events(store_target, org_id=org["id"], action="role.create")) == [
        ("role.create", "SUCCESS")
    ]


def test_update_role_permissions(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    role_id = made_role(api, owner, "Site manager", ["site:read"])
    before = stored_epoch(api.tenantry, org["id"])

    updated = patch_role(
        api, owner, role_id, {"permissions": ["site:read", "site:update", "site:delete"]}
    )

    assert updated.status_code == 200, updated.text
    assert updated.json()["permissions"] == ["site:read", "site:update", "site:delete"]
    assert get_role(api, owner, role_id).json()["permissions"] == updated.json()["permissions"]
    stored = stored_role(api.tenantry, org["id"], role_id)
    assert stored is not None
    assert stored.permissions == ("site:read", "site:update", "site:delete")
    assert epoch_of(updated) == stored_epoch(api.tenantry, org["id"]) == before + 1
    [event] = audit_events(store_target, org_id=org["id"], action="role.update")
    assert (event.event_type, event.details["added"], event.details["removed"]) == (
        EventType.PERMISSION_CHANGE,
        ["site:update", "site:delete"],
        [],
    )


def test_renaming_a_role_is_a_role_change_not_a_permission_change(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    role_id = made_role(api, owner, "Site editor", ["site:read"])

    renamed = patch_role(api, owner, role_id, {"name": "  Web   editor "})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Web editor"
    [event] = audit_events(store_target, org_id=org["id"], action="role.update")
    assert event.event_type is EventType.ROLE_CHANGE
    assert (event.details["before"]["name"], event.details["after"]["name"]) == (
        "Site editor",
        "Web editor",
    )


@pytest.mark.parametrize("second", ["Site editor", "site EDITOR", "  Site   editor  "])
def test_conditional_write_prevents_duplicate(
    api: Api, store_target: StoreTarget, second: str
) -> None:
    owner, org = api.owner_with_org()
    first = made_role(api, owner, "Site editor", ["site:read"])
    before = stored_epoch(api.tenantry, org["id"])

    duplicate = create_role(api, owner, second, ["site:publish"])

    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["code"] == "role_name_taken"
    assert EPOCH not in duplicate.headers
    assert [r.id for r in stored_roles(api.tenantry, org["id"])] == [first]
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert successes(store_target, org["id"], "role.create") == [first]
    assert refusals(store_target, org["id"]) == [
        (*ROLE_FAILED, "role.create", "role_name_taken", org["id"], org["id"])
    ]


def test_renaming_onto_another_roles_name_is_refused(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    made_role(api, owner, "Site editor", ["site:read"])
    other = made_role(api, owner, "Viewer", ["site:read"])

    refused = patch_role(api, owner, other, {"name": "SITE editor"})

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "role_name_taken"
    stored = stored_role(api.tenantry, org["id"], other)
    assert stored is not None
    assert stored.name == "Viewer"
    assert successes(store_target, org["id"], "role.update") == []
    assert refusals(store_target, org["id"]) == [
        (*EDIT_FAILED, "role.update", "role_name_taken", other, org["id"])
    ]


def test_delete_role(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", SITE_EDITOR)
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    before = stored_epoch(api.tenantry, org["id"])

    deleted = delete_role(api, owner, role_id)

    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert epoch_of(deleted) == stored_epoch(api.tenantry, org["id"]) == before + 1
    gone = get_role(api, owner, role_id)
    assert gone.status_code == 404, gone.text
    assert gone.json()["code"] == "role_not_found"
    assert stored_role(api.tenantry, org["id"], role_id) is None
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == []
    assert grants_of(api, member, member.user_id) == MEMBER_GRANTS
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "role:read", "role_not_found", role_id, org["id"])
    ]
    [event] = audit_events(store_target, org_id=org["id"], action="role.delete")
    assert (event.event_type, event.outcome, event.resource_id) == (
        EventType.ROLE_CHANGE,
        Outcome.SUCCESS,
        role_id,
    )
    assert event.details["before"]["permissions"] == SITE_EDITOR
    assert (event.details["unassigned"], event.details["authz_epoch"]) == (
        [member.user_id],
        before + 1,
    )


def test_inactive_role_filtered_out(api: Api, store_target: StoreTarget) -> None:
    """A deleted role grants nothing to those who held it; a member with no custom role has
    exactly what their organisation role grants, and another member's roles are theirs."""
    owner, org = api.owner_with_org()
    held_then_deleted = api.member_of(org["id"])
    never_assigned = api.member_of(org["id"])
    still_assigned = api.member_of(org["id"])
    gone = made_role(api, owner, "Retired", ["site:publish"])
    kept = made_role(api, owner, "Viewer", ["site:read"])
    assert assign(api, owner, held_then_deleted.user_id, gone).status_code == 200
    assert assign(api, owner, still_assigned.user_id, kept).status_code == 200

    assert delete_role(api, owner, gone).status_code == 204

    assert grants_of(api, owner, held_then_deleted.user_id) == MEMBER_GRANTS
    assert grants_of(api, owner, never_assigned.user_id) == MEMBER_GRANTS
    assert set(grants_of(api, owner, still_assigned.user_id)) == set(MEMBER_GRANTS) | role_grants(
        kept, "Viewer", ["site:read"]
    )
    assert [a.role_id for a in stored_assignments(api.tenantry, org["id"], still_assigned.user_id)]
    assert stored_assignments(api.tenantry, org["id"], held_then_deleted.user_id) == []


def test_unassigning_a_role_takes_its_grants_away(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", SITE_EDITOR)
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    before = stored_epoch(api.tenantry, org["id"])

    removed = unassign(api, owner, member.user_id, role_id)
    again = unassign(api, owner, member.user_id, role_id)

    assert removed.status_code == 204, removed.text
    assert epoch_of(removed) == stored_epoch(api.tenantry, org["id"]) == before + 1
    assert again.status_code == 404, again.text
    assert again.json()["code"] == "role_not_assigned"
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == []
    assert grants_of(api, member, member.user_id) == MEMBER_GRANTS
    # Recorded about the member, as the unassignment itself is.
    assert refusals(store_target, org["id"]) == [
        (*DENIED, "role.unassign", "role_not_assigned", member.user_id, org["id"])
    ]
    [event] = audit_events(
        store_target, org_id=org["id"], action="role.unassign", outcome=Outcome.SUCCESS
    )
    assert event.details == {
        "before": {"role_ids": [role_id]},
        "after": {"role_ids": []},
        "authz_epoch": before + 1,
        "role_id": role_id,
    }


def test_assigning_a_role_twice_changes_nothing(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Site editor", SITE_EDITOR)
    first = assign(api, owner, member.user_id, role_id)

    second = assign(api, owner, member.user_id, role_id)

    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert epoch_of(second) == epoch_of(first) == stored_epoch(api.tenantry, org["id"])
    assert len(stored_assignments(api.tenantry, org["id"], member.user_id)) == 1
    assert len(audit_events(store_target, org_id=org["id"], action="role.assign")) == 1


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "site",  # one segment
        "a:b:c:d:e",  # five
        "Site:read",  # upper case
        "site:pub lish",
        "site*:read",  # a wildcard is a whole segment
        "site:",
        ":read",
        "site::read",
        "",
        "x" * 65 + ":read",  # a segment is at most 64 characters
        "site:réad",
    ],
)
def test_an_invalid_permission_is_refused_naming_it(
    api: Api, store_target: StoreTarget, bad: str
) -> None:
    owner, org = api.owner_with_org()
    before = stored_epoch(api.tenantry, org["id"])

    refused = create_role(api, owner, "Broken", ["site:read", bad])

    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == ("invalid_permission", bad)
    assert stored_roles(api.tenantry, org["id"]) == []
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert successes(store_target, org["id"], "role.create") == []
    assert refusals(store_target, org["id"]) == [
        (*ROLE_FAILED, "role.create", "invalid_permission", org["id"], org["id"])
    ]


def test_an_edit_with_an_invalid_permission_changes_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    role_id = made_role(api, owner, "Viewer", ["site:read"])
    before = stored_role(api.tenantry, org["id"], role_id)

    refused = patch_role(api, owner, role_id, {"permissions": ["site:read", "site:*:x*"]})

    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "invalid_permission",
        "site:*:x*",
    )
    assert stored_role(api.tenantry, org["id"], role_id) == before
    assert successes(store_target, org["id"], "role.update") == []
    assert refusals(store_target, org["id"]) == [
        (*EDIT_FAILED, "role.update", "invalid_permission", role_id, org["id"])
    ]


def test_a_role_holds_at_most_the_documented_number_of_permissions(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    too_many = [f"site:p{i}" for i in range(MAX_PERMISSIONS_PER_ROLE + 1)]
    at_limit = too_many[:-1]

    refused = create_role(api, owner, "Too much", too_many)
    # Duplicates are dropped before counting.
    accepted = create_role(api, owner, "Just enough", at_limit + at_limit[:3])

    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["limit"]) == (
        "too_many_permissions",
        MAX_PERMISSIONS_PER_ROLE,
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["permissions"] == at_limit
    assert [r.name for r in stored_roles(api.tenantry, org["id"])] == ["Just enough"]
    assert successes(store_target, org["id"], "role.create") == [accepted.json()["id"]]
    assert refusals(store_target, org["id"]) == [
        (*ROLE_FAILED, "role.create", "too_many_permissions", org["id"], org["id"])
    ]


def test_role_names_are_trimmed_and_an_empty_name_is_refused(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()

    trimmed = create_role(api, owner, "  Site \t  editor  ", ["site:read"])
    empty = create_role(api, owner, "", ["site:read"])
    blank = create_role(api, owner, "   ", ["site:read"])

    assert trimmed.status_code == 201, trimmed.text
    assert trimmed.json()["name"] == "Site editor"
    assert empty.status_code == 422, empty.text
    assert empty.json()["code"] == "validation_failed"
    assert [e["field"] for e in empty.json()["errors"]] == ["name"]
    assert blank.status_code == 422, blank.text
    assert blank.json()["code"] == "invalid_name"
    assert [r.name for r in stored_roles(api.tenantry, org["id"])] == ["Site editor"]
    assert successes(store_target, org["id"], "role.create") == [trimmed.json()["id"]]
    # The empty name never reaches the use case (the body's schema refuses it); the blank one
    # is refused by the use case, on record.
    assert refusals(store_target, org["id"]) == [
        (*ROLE_FAILED, "role.create", "invalid_name", org["id"], org["id"])
    ]


# --- the dry run -----------------------------------------------------------------------------


def test_a_dry_run_answers_who_gains_and_loses_what_and_writes_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    plain = api.member_of(org["id"])
    covered = api.member_of(org["id"])  # holds site:* besides: the edit changes nothing for them
    role_id = made_role(api, owner, "Viewer", ["site:read", "blog:read"])
    site_all = made_role(api, owner, "Site admin", ["site:*"])
    for user_id in (plain.user_id, covered.user_id):
        assert assign(api, owner, user_id, role_id).status_code == 200
    assert assign(api, owner, covered.user_id, site_all).status_code == 200
    role_before = stored_role(api.tenantry, org["id"], role_id)
    epoch_before = stored_epoch(api.tenantry, org["id"])
    events_before = audit_events(store_target, org_id=org["id"])

    preview = patch_role(
        api, owner, role_id, {"permissions": ["site:publish", "blog:read"]}, dry_run=True
    )

    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True
    assert (body["role"]["id"], body["role"]["permissions"]) == (
        role_id,
        ["site:publish", "blog:read"],
    )
    assert body["changes"] == [
        {
            "user_id": plain.user_id,
            "team_id": None,
            "gained": ["site:publish"],
            "lost": ["site:read"],
        }
    ]
    assert stored_role(api.tenantry, org["id"], role_id) == role_before
    assert stored_epoch(api.tenantry, org["id"]) == epoch_before
    assert audit_events(store_target, org_id=org["id"]) == events_before
    assert "site:publish" not in held(api, owner, plain.user_id)


def test_a_dry_run_of_a_team_role_names_the_team_of_each_change(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    deployer = made_role(api, owner, "Deployer", ["deploy:run"], scope="TEAM")
    team_id = made_team(api, owner, "Platform")
    assert add_to_team(api, owner, team_id, member.user_id, deployer).status_code == 201
    epoch_before = stored_epoch(api.tenantry, org["id"])

    preview = patch_role(
        api, owner, deployer, {"permissions": ["deploy:run", "deploy:rollback"]}, dry_run=True
    )

    assert preview.status_code == 200, preview.text
    assert preview.json()["changes"] == [
        {"user_id": member.user_id, "team_id": team_id, "gained": ["deploy:rollback"], "lost": []}
    ]
    stored = stored_role(api.tenantry, org["id"], deployer)
    assert stored is not None
    assert stored.permissions == ("deploy:run",)
    assert stored_epoch(api.tenantry, org["id"]) == epoch_before
    assert nothing_recorded_for(store_target, org["id"], "role.update")


def test_a_dry_run_is_held_to_the_same_rules_as_the_edit(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    role_id = made_role(api, owner, "Viewer", ["site:read"])

    refused = patch_role(api, admin, role_id, {"permissions": ["site:*"]}, dry_run=True)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["missing"]) == (
        "permission_escalation",
        ["site:*"],
    )
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.reason, denied.details) == (
        admin.user_id,
        "permission_escalation",
        {"missing": ["site:*"]},
    )


# --- wildcards, compared by the grammar ----------------------------------------------------


def test_a_site_wildcard_covers_deeper_site_permissions_and_nothing_beside(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    site_all = made_role(api, owner, "Site admin", ["site:*"])
    assert assign(api, owner, admin.user_id, site_all).status_code == 200

    deeper = create_role(api, admin, "Page editor", ["site:page:edit", "site:read"])
    beside = create_role(api, admin, "Sites reader", ["sites:read", "site_admin:read"])

    assert deeper.status_code == 201, deeper.text
    assert beside.status_code == 403, beside.text
    assert (beside.json()["code"], beside.json()["missing"]) == (
        "permission_escalation",
        ["sites:read", "site_admin:read"],
    )
    assert sorted(r.name for r in stored_roles(api.tenantry, org["id"])) == [
        "Page editor",
        "Site admin",
    ]
    assert ("site:*", f"role:{site_all}(Site admin)", None) in grants_of(api, admin, admin.user_id)


def test_an_edit_that_a_wildcard_already_covers_gains_nothing_for_its_holder(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    wildcard_holder = api.member_of(org["id"])
    plain = api.member_of(org["id"])
    site_all = made_role(api, owner, "Site admin", ["site:*"])
    viewer = made_role(api, owner, "Viewer", ["site:read"])
    assert assign(api, owner, wildcard_holder.user_id, site_all).status_code == 200
    for user_id in (wildcard_holder.user_id, plain.user_id):
        assert assign(api, owner, user_id, viewer).status_code == 200

    preview = patch_role(
        api, owner, viewer, {"permissions": ["site:read", "site:page:edit"]}, dry_run=True
    )

    assert preview.status_code == 200, preview.text
    assert preview.json()["changes"] == [
        {"user_id": plain.user_id, "team_id": None, "gained": ["site:page:edit"], "lost": []}
    ]


# --- no escalation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "missing"),
    [
        (["*:*"], ["*:*"]),
        (["site:publish"], ["site:publish"]),
        (["role:read", "organisation:delete", "site:*"], ["organisation:delete", "site:*"]),
    ],
)
def test_an_admin_cannot_create_a_role_with_what_they_do_not_hold(
    api: Api, store_target: StoreTarget, permissions: list[str], missing: list[str]
) -> None:
    _, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    before = stored_epoch(api.tenantry, org["id"])

    refused = create_role(api, admin, "Power", permissions)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["missing"]) == ("permission_escalation", missing)
    assert stored_roles(api.tenantry, org["id"]) == []
    assert stored_epoch(api.tenantry, org["id"]) == before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (
        denied.event_type,
        denied.actor_id,
        denied.action,
        denied.reason,
        denied.details,
    ) == (
        EventType.AUTHORIZATION,
        admin.user_id,
        "role:create",
        "permission_escalation",
        {"missing": missing},
    )
    assert nothing_recorded_for(store_target, org["id"], "role.create")


def test_an_admin_holding_site_wildcard_may_grant_site_publish_but_not_everything(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    site_all = made_role(api, owner, "Site admin", ["site:*"])
    assert assign(api, owner, admin.user_id, site_all).status_code == 200

    publisher = create_role(api, admin, "Publisher", ["site:publish"])
    everything = create_role(api, admin, "Everything", ["site:publish", "*:*"])

    assert publisher.status_code == 201, publisher.text
    assert everything.status_code == 403, everything.text
    assert (everything.json()["code"], everything.json()["missing"]) == (
        "permission_escalation",
        ["*:*"],
    )
    assert sorted(r.name for r in stored_roles(api.tenantry, org["id"])) == [
        "Publisher",
        "Site admin",
    ]
    denied = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.reason, e.details) for e in denied] == [
        (admin.user_id, "permission_escalation", {"missing": ["*:*"]})
    ]


def test_nobody_edits_a_role_they_hold_to_gain_power(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    editor = api.member_of(org["id"])
    own_role = made_role(api, owner, "Role editor", ["role:read", "role:update", "site:read"])
    assert assign(api, owner, editor.user_id, own_role).status_code == 200
    before_role = stored_role(api.tenantry, org["id"], own_role)
    before_epoch = stored_epoch(api.tenantry, org["id"])

    gain = patch_role(api, editor, own_role, {"permissions": ["role:update", "site:publish"]})
    clock.advance(seconds=1)
    widen = patch_role(api, editor, own_role, {"permissions": ["role:*"]})

    assert gain.status_code == 403, gain.text
    assert (gain.json()["code"], gain.json()["missing"]) == (
        "permission_escalation",
        ["site:publish"],
    )
    assert widen.status_code == 403, widen.text
    assert widen.json()["missing"] == ["role:*"]
    assert stored_role(api.tenantry, org["id"], own_role) == before_role
    assert stored_epoch(api.tenantry, org["id"]) == before_epoch
    denied = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.action, e.reason, e.resource_id, e.details) for e in denied] == [
        (editor.user_id, "role:update", "permission_escalation", own_role, missing)
        for missing in ({"missing": ["site:publish"]}, {"missing": ["role:*"]})
    ]

    # Taking away needs only the permission to edit.
    narrowed = patch_role(api, editor, own_role, {"permissions": ["role:read", "role:update"]})
    assert narrowed.status_code == 200, narrowed.text
    assert "site:read" not in held(api, editor, editor.user_id)


def test_nobody_assigns_a_role_to_themselves(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    role_id = made_role(api, owner, "Site editor", SITE_EDITOR)
    before = stored_epoch(api.tenantry, org["id"])

    refused = assign(api, owner, owner.user_id, role_id)

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "cannot_change_own_role"
    assert stored_assignments(api.tenantry, org["id"], owner.user_id) == []
    assert stored_epoch(api.tenantry, org["id"]) == before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason, denied.resource_id) == (
        owner.user_id,
        "role.assign",
        "cannot_change_own_role",
        owner.user_id,
    )


def test_an_admin_cannot_assign_a_role_with_more_than_they_hold(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    member = api.member_of(org["id"])
    publisher = made_role(api, owner, "Publisher", ["site:publish"])
    before = stored_epoch(api.tenantry, org["id"])

    refused = assign(api, admin, member.user_id, publisher)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["missing"]) == (
        "permission_escalation",
        ["site:publish"],
    )
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == []
    assert stored_epoch(api.tenantry, org["id"]) == before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason, denied.resource_id) == (
        admin.user_id,
        "role.assign",
        "permission_escalation",
        member.user_id,
    )


def test_a_team_role_cannot_be_assigned_organisation_wide(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_role = made_role(api, owner, "Deployer", ["deploy:run"], scope="TEAM")
    before = stored_epoch(api.tenantry, org["id"])

    refused = assign(api, owner, member.user_id, team_role)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "role_scope_mismatch"
    assert stored_assignments(api.tenantry, org["id"], member.user_id) == []
    assert stored_epoch(api.tenantry, org["id"]) == before
    assert grants_of(api, owner, member.user_id) == MEMBER_GRANTS
    assert successes(store_target, org["id"], "role.assign") == []
    # Recorded about the member, as an assignment is.
    assert refusals(store_target, org["id"]) == [
        (*ROLE_FAILED, "role.assign", "role_scope_mismatch", member.user_id, org["id"])
    ]


ROLE_ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    # (method, path under the organisation, permission needed, body)
    ("GET", "roles", "role:read", None),
    ("POST", "roles", "role:create", {"name": "Mine", "permissions": ["team:read"]}),
    ("GET", "roles/{role}", "role:read", None),
    ("PATCH", "roles/{role}", "role:update", {"permissions": ["team:read"]}),
    ("DELETE", "roles/{role}", "role:delete", None),
    ("PUT", "members/{other}/roles/{role}", "role:assign", None),
    ("DELETE", "members/{other}/roles/{role}", "role:assign", None),
]


@pytest.mark.parametrize(
    ("method", "path", "permission", "body"),
    ROLE_ROUTES,
    ids=[f"{r[0]} {r[1]}" for r in ROLE_ROUTES],
)
def test_a_member_without_role_permissions_is_refused_on_every_role_route(
    api: Api,
    store_target: StoreTarget,
    method: str,
    path: str,
    permission: str,
    body: dict[str, Any] | None,
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    other = api.member_of(org["id"])
    role_id = made_role(api, owner, "Viewer", ["team:read"])
    assert assign(api, owner, other.user_id, role_id).status_code == 200
    role_before = stored_role(api.tenantry, org["id"], role_id)
    epoch_before = stored_epoch(api.tenantry, org["id"])
    url = org_path(member, path.format(role=role_id, other=other.user_id))

    refused = api.client.request(method, url, json=body, headers=member.auth)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        permission,
    )
    assert stored_role(api.tenantry, org["id"], role_id) == role_before
    assert [r.id for r in stored_roles(api.tenantry, org["id"])] == [role_id]
    assert [a.role_id for a in stored_assignments(api.tenantry, org["id"], other.user_id)] == [
        role_id
    ]
    assert stored_epoch(api.tenantry, org["id"]) == epoch_before
    [denied] = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert (denied.actor_id, denied.action, denied.reason) == (
        member.user_id,
        permission,
        "missing_permission",
    )


def test_deleting_a_team_role_leaves_its_holders_plain_team_members(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    team_id = made_team(api, owner, "Platform")
    deployer = made_role(api, owner, "Deployer", ["deploy:run"], scope="TEAM")
    assert add_to_team(api, owner, team_id, member.user_id, deployer).status_code == 201

    deleted = delete_role(api, owner, deployer)

    assert deleted.status_code == 204, deleted.text
    assert [
        (m.user_id, m.team_role) for m in stored_team_members(api.tenantry, org["id"], team_id)
    ] == [(member.user_id, "MEMBER")]
    assert {g for g in grants_of(api, member, member.user_id) if g[2] == team_id} == {
        ("team:read", f"team:{team_id}/MEMBER", team_id)
    }
    [event] = audit_events(store_target, org_id=org["id"], action="role.delete")
    assert (event.details["unassigned"], event.details["team_roles_reset"]) == (
        [],
        [{"team_id": team_id, "user_id": member.user_id}],
    )
