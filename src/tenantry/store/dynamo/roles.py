"""Custom roles and their assignments on DynamoDB. An organisation's roles live in its
partition, each name (ignoring case) held by a `ROLENAME#` item; a member's assignments share
one partition, and who holds a role is on GSI1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.roles import Role, RoleAssignment, RoleScope
from tenantry.store.cursor import role_order
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoRoles:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str, role_id: str) -> Role | None:
        found = self._reads.get(keys.role(org_id, role_id))
        return _role(found) if found is not None else None

    def get_many(self, org_id: str, role_ids: Sequence[str]) -> list[Role]:
        found = self._reads.remembered([keys.role(org_id, role_id) for role_id in set(role_ids)])
        return [_role(item) for item in found]

    def list(self, org_id: str) -> list[Role]:
        found = self._reads.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"ORG#{org_id}", "prefix": keys.ROLE_PREFIX},
        )
        return sorted((_role(item) for item in found), key=role_order)

    def add(self, role: Role) -> None:
        self._writes.put(keys.role(role.org_id, role.id), _attributes(role), code="conflict")
        self._writes.put(
            keys.role_name(role.org_id, role.name), {"role_id": role.id}, code="role_name_taken"
        )

    def update(self, role: Role, *, on_conflict: TenantryError | None = None) -> None:
        stored = self.get(role.org_id, role.id)
        if stored is not None and stored.name.lower() != role.name.lower():
            self._rename(stored, role.name, on_conflict)
        self._writes.update(
            keys.role(role.org_id, role.id),
            {
                "name": role.name,
                "description": role.description,
                "permissions": list(role.permissions),
                "updated_at": role.updated_at,
            },
            code="role_changed",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, role_id: str) -> None:
        stored = self.get(org_id, role_id)
        self._writes.delete(keys.role(org_id, role_id), code="role_changed")
        if stored is not None:
            self._writes.delete(
                keys.role_name(org_id, stored.name),
                expect={"role_id": role_id},
                code="role_changed",
            )

    def _rename(self, stored: Role, name: str, on_conflict: TenantryError | None) -> None:
        self._writes.delete(
            keys.role_name(stored.org_id, stored.name),
            expect={"role_id": stored.id},
            code="role_changed",
            on_conflict=on_conflict,
        )
        self._writes.put(
            keys.role_name(stored.org_id, name),
            {"role_id": stored.id},
            code="role_name_taken",
            on_conflict=on_conflict,
        )


class DynamoRoleAssignments:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def list_for_member(self, org_id: str, user_id: str) -> list[RoleAssignment]:
        found = self._reads.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"ORG#{org_id}#MEMBER#{user_id}", "prefix": keys.ROLE_PREFIX},
        )
        listed = [_assignment(item) for item in found]
        if listed:  # a deleted role's assignments are removed after its deletion commits
            wanted = [keys.role(org_id, role_id) for role_id in sorted({a.role_id for a in listed})]
            there = {item["id"] for item in self._reads.remembered(wanted)}
            listed = [a for a in listed if a.role_id in there]
        return sorted(listed, key=lambda a: (a.assigned_at, a.role_id))

    def list_for_role(self, org_id: str, role_id: str) -> list[RoleAssignment]:
        found = self._reads.query(
            "GSI1PK = :pk", {"pk": f"ORG#{org_id}#ROLE#{role_id}"}, index="GSI1"
        )
        return [_assignment(item) for item in found]

    def add(self, assignment: RoleAssignment) -> None:
        a = assignment
        self._writes.put(
            keys.role_assignment(a.org_id, a.user_id, a.role_id),
            {
                "entity": "role_assignment",
                "org_id": a.org_id,
                "user_id": a.user_id,
                "role_id": a.role_id,
                "assigned_at": a.assigned_at,
                "assigned_by": a.assigned_by,
                **keys.role_assignment_index(a.org_id, a.role_id, a.assigned_at, a.user_id),
            },
            code="role_already_assigned",
        )

    def remove(self, org_id: str, user_id: str, role_id: str) -> None:
        self._writes.delete(
            keys.role_assignment(org_id, user_id, role_id), code="role_not_assigned"
        )

    def end_all_for_role(self, org_id: str, role_id: str) -> None:
        # Not in the transaction, which holds 100 items whatever the number of holders: the
        # role's deletion commits, from then on `list_for_member` hides its assignments, and
        # they are deleted after (what a failed delete, or the index not yet showing an
        # assignment, leaves stays hidden).
        self._writes.after_commit(lambda: self._delete_assignments(org_id, role_id))

    def _delete_assignments(self, org_id: str, role_id: str) -> None:
        found = self._reads.query(
            "GSI1PK = :pk", {"pk": f"ORG#{org_id}#ROLE#{role_id}"}, index="GSI1"
        )
        self._writes.delete_now([{"PK": item["PK"], "SK": item["SK"]} for item in found])


def _attributes(role: Role) -> dict[str, Any]:
    return {
        "entity": "role",
        "id": role.id,
        "org_id": role.org_id,
        "name": role.name,
        "permissions": list(role.permissions),
        "scope": role.scope.value,
        "created_at": role.created_at,
        "description": role.description,
        "updated_at": role.updated_at,
    }


def _role(item: dict[str, Any]) -> Role:
    created = codec.required_moment(item["created_at"])
    return Role(
        id=item["id"],
        org_id=item["org_id"],
        name=item["name"],
        permissions=tuple(item.get("permissions") or ()),
        scope=RoleScope(item["scope"]),
        created_at=created,
        description=item.get("description", ""),
        updated_at=codec.moment(item.get("updated_at")),
    )


def _assignment(item: dict[str, Any]) -> RoleAssignment:
    assigned = codec.required_moment(item["assigned_at"])
    return RoleAssignment(
        org_id=item["org_id"],
        user_id=item["user_id"],
        role_id=item["role_id"],
        assigned_at=assigned,
        assigned_by=item["assigned_by"],
    )
