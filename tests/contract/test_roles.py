"""RolesRepository and RoleAssignmentsRepository: reads, names unique per organisation
ignoring case, orderings, and the writes that commit. (Their refused writes are in
`refusals.py`.)"""

from __future__ import annotations

from dataclasses import replace

from tenantry.domain.ids import new_id
from tenantry.domain.roles import Role, RoleAssignment, RoleScope
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_assignment, make_role, minutes
from tests.contract.steps import (
    adding,
    committed,
    committed_in_batches,
    given_assignment,
    given_org,
    given_role,
    read,
    refused,
)


def _role(store: Store, role: Role) -> Role | None:
    return read(store, lambda uow: uow.roles.get(role.org_id, role.id), org_id=role.org_id)


def _roles_of(store: Store, org_id: str) -> list[Role]:
    return read(store, lambda uow: uow.roles.list(org_id), org_id=org_id)


def test_a_role_reads_back_as_it_was_added(store: Store) -> None:
    role = given_role(
        store,
        given_org(store),
        permissions=("team:update", "team:member:add", "audit:read"),
        scope=RoleScope.TEAM,
        description="Runs a team",
    )
    assert _role(store, role) == role


def test_an_unknown_role_and_another_organisations_role_are_none(store: Store) -> None:
    theirs = given_role(store, given_org(store))
    org = given_org(store)
    assert read(store, lambda uow: uow.roles.get(org.id, new_id("rol")), org_id=org.id) is None
    assert read(store, lambda uow: uow.roles.get(org.id, theirs.id), org_id=org.id) is None


def test_get_many_returns_the_organisations_roles_that_exist(store: Store) -> None:
    org = given_org(store)
    first, second = given_role(store, org), given_role(store, org)
    theirs = given_role(store, given_org(store))
    wanted = [second.id, new_id("rol"), theirs.id, first.id]
    found = read(store, lambda uow: uow.roles.get_many(org.id, wanted), org_id=org.id)
    assert sorted(found, key=lambda role: role.id) == sorted([first, second], key=lambda r: r.id)
    assert read(store, lambda uow: uow.roles.get_many(org.id, []), org_id=org.id) == []


def test_roles_are_listed_by_name_ignoring_case(store: Store) -> None:
    org = given_org(store)
    roles = {name: given_role(store, org, name=name) for name in ["banana", "Cherry", "apple"]}
    roles["Apricot"] = given_role(store, org, name="Apricot")
    given_role(store, given_org(store), name="Avocado")  # another organisation's
    assert _roles_of(store, org.id) == [
        roles["apple"],
        roles["Apricot"],
        roles["banana"],
        roles["Cherry"],
    ]


def test_an_organisation_without_roles_lists_none(store: Store) -> None:
    assert _roles_of(store, given_org(store).id) == []


def test_two_organisations_may_each_have_a_role_of_the_same_name(store: Store) -> None:
    ours = given_role(store, given_org(store), name="Billing")
    theirs = given_role(store, given_org(store), name="billing")
    assert [_role(store, ours), _role(store, theirs)] == [ours, theirs]


def test_two_roles_of_the_same_name_in_one_unit_of_work_are_refused(store: Store) -> None:
    org = given_org(store)
    first, second = make_role(org, name="Support"), make_role(org, name="SUPPORT")
    error = refused(
        store, lambda uow: uow.roles.add(first), lambda uow: uow.roles.add(second), org_id=org.id
    )
    assert error.code == "role_name_taken"
    assert _roles_of(store, org.id) == []


def test_an_update_writes_name_description_permissions_and_update_time(store: Store) -> None:
    role = given_role(store, given_org(store))
    changed = replace(
        role,
        name="Release managers",
        description="Ships releases",
        permissions=("team:update",),
        updated_at=AT + minutes(5),
    )
    committed(store, lambda uow: uow.roles.update(changed), org_id=role.org_id)
    assert _role(store, role) == changed


def test_an_update_leaves_scope_and_creation_time_alone(store: Store) -> None:
    role = given_role(store, given_org(store), scope=RoleScope.ORGANISATION)
    changed = replace(role, scope=RoleScope.TEAM, created_at=AT + minutes(9), name="Renamed")
    committed(store, lambda uow: uow.roles.update(changed), org_id=role.org_id)
    assert _role(store, role) == replace(role, name="Renamed")


def test_a_role_may_be_renamed_to_its_own_name_in_another_case(store: Store) -> None:
    role = given_role(store, given_org(store), name="auditors")
    committed(
        store, lambda uow: uow.roles.update(replace(role, name="Auditors")), org_id=role.org_id
    )
    assert _role(store, role) == replace(role, name="Auditors")


def test_a_renamed_role_frees_its_old_name(store: Store) -> None:
    org = given_org(store)
    role = given_role(store, org, name="Support")
    committed(store, lambda uow: uow.roles.update(replace(role, name="Help desk")), org_id=org.id)
    again = given_role(store, org, name="support")
    assert _roles_of(store, org.id) == [replace(role, name="Help desk"), again]


def test_a_deleted_role_is_gone_and_its_name_is_free(store: Store) -> None:
    org = given_org(store)
    role, kept = given_role(store, org, name="Interns"), given_role(store, org, name="Staff")
    committed(store, lambda uow: uow.roles.delete(org.id, role.id), org_id=org.id)
    assert _role(store, role) is None
    assert _roles_of(store, org.id) == [kept]
    given_role(store, org, name="INTERNS")


# --- role assignments ------------------------------------------------------------------------


def _of_member(store: Store, org_id: str, user_id: str) -> list[RoleAssignment]:
    return read(
        store, lambda uow: uow.role_assignments.list_for_member(org_id, user_id), org_id=org_id
    )


def _of_role(store: Store, role: Role) -> list[RoleAssignment]:
    return read(
        store,
        lambda uow: uow.role_assignments.list_for_role(role.org_id, role.id),
        org_id=role.org_id,
    )


def test_a_members_assignments_are_listed_by_assignment_time_then_role(store: Store) -> None:
    org, member = given_org(store), new_id("usr")
    roles = [given_role(store, org) for _ in range(4)]
    later = given_assignment(store, org, member, roles[0], assigned_at=AT + minutes(3))
    together = sorted(
        (given_assignment(store, org, member, role) for role in roles[1:]),
        key=lambda assignment: assignment.role_id,
    )
    given_assignment(store, org, new_id("usr"), roles[0])  # someone else's
    theirs = given_org(store)
    given_assignment(store, theirs, member, given_role(store, theirs))  # in another organisation
    assert _of_member(store, org.id, member) == [*together, later]


def test_the_holders_of_a_role_are_listed_by_assignment_time_then_user(store: Store) -> None:
    org = given_org(store)
    role, other = given_role(store, org), given_role(store, org)
    first = given_assignment(store, org, new_id("usr"), role, assigned_at=AT - minutes(1))
    together = sorted(
        (given_assignment(store, org, new_id("usr"), role) for _ in range(3)),
        key=lambda assignment: assignment.user_id,
    )
    given_assignment(store, org, new_id("usr"), other)
    assert _of_role(store, role) == [first, *together]


def test_a_removed_assignment_is_no_longer_listed(store: Store) -> None:
    org, member = given_org(store), new_id("usr")
    removed, kept = given_role(store, org), given_role(store, org)
    given_assignment(store, org, member, removed)
    still = given_assignment(store, org, member, kept)
    committed(
        store, lambda uow: uow.role_assignments.remove(org.id, member, removed.id), org_id=org.id
    )
    assert _of_member(store, org.id, member) == [still]
    assert _of_role(store, removed) == []


def test_a_role_removed_and_assigned_again_in_one_unit_of_work_commits(store: Store) -> None:
    org, member = given_org(store), new_id("usr")
    role = given_role(store, org)
    given_assignment(store, org, member, role)
    again = replace(_of_member(store, org.id, member)[0], assigned_at=AT + minutes(7))
    committed(
        store,
        lambda uow: uow.role_assignments.remove(org.id, member, role.id),
        lambda uow: uow.role_assignments.add(again),
        org_id=org.id,
    )
    assert _of_member(store, org.id, member) == [again]


def test_a_deleted_roles_assignments_end_with_it_however_many_there_are(store: Store) -> None:
    org, user = given_org(store), new_id("usr")
    role, other = given_role(store, org), given_role(store, org)
    holders = [new_id("usr") for _ in range(150)]  # more than a DynamoDB transaction holds
    assignments = [make_assignment(org, holder, role) for holder in holders]
    committed_in_batches(store, [adding(a) for a in assignments], org_id=org.id)
    given_assignment(store, org, user, role)
    stays = given_assignment(store, org, user, other, assigned_at=AT + minutes(1))

    committed(
        store,
        lambda uow: uow.role_assignments.end_all_for_role(org.id, role.id),
        lambda uow: uow.roles.delete(org.id, role.id),
        org_id=org.id,
    )

    def remaining(uow: UnitOfWork) -> tuple[object, ...]:
        return (
            uow.role_assignments.list_for_role(org.id, role.id),
            uow.role_assignments.list_for_member(org.id, user),
            uow.role_assignments.list_for_member(org.id, holders[0]),
        )

    assert read(store, remaining, org_id=org.id) == ([], [stays], [])
