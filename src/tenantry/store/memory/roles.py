"""Custom roles and their assignments in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tenantry.domain.errors import TenantryError
from tenantry.domain.roles import Role, RoleAssignment
from tenantry.store.cursor import role_order
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _roles(state: MemoryState) -> dict[tuple[str, str], Role]:
    return state.roles


def _assignments(state: MemoryState) -> dict[tuple[str, str, str], RoleAssignment]:
    return state.role_assignments


def _name_in_org(role: Role) -> tuple[str, str]:
    """What the SQL unique index on (org_id, lower(name)) holds."""
    return (role.org_id, role.name.lower())


class MemoryRoles:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _roles)

    def get(self, org_id: str, role_id: str) -> Role | None:
        return self._table.get((org_id, role_id))

    def get_many(self, org_id: str, role_ids: Sequence[str]) -> list[Role]:
        wanted = set(role_ids)
        return self._table.select(lambda role: role.org_id == org_id and role.id in wanted)

    def list(self, org_id: str) -> list[Role]:
        return sorted(self._table.select(lambda role: role.org_id == org_id), key=role_order)

    def add(self, role: Role) -> None:
        key = (role.org_id, role.id)
        self._table.insert(key, role, code="role_name_taken", unique=_name_in_org)

    def update(self, role: Role, *, on_conflict: TenantryError | None = None) -> None:
        def revised(stored: Role) -> Role:
            return replace(
                stored,
                name=role.name,
                description=role.description,
                permissions=role.permissions,
                updated_at=role.updated_at,
            )

        self._table.update_unique(
            (role.org_id, role.id),
            revised,
            unique=_name_in_org,
            code="role_changed",
            unique_code="role_name_taken",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, role_id: str) -> None:
        self._table.delete((org_id, role_id), code="role_changed")


def _by_time_then_role(assignment: RoleAssignment) -> tuple[datetime, str]:
    return (assignment.assigned_at, assignment.role_id)


def _by_time_then_user(assignment: RoleAssignment) -> tuple[datetime, str]:
    return (assignment.assigned_at, assignment.user_id)


class MemoryRoleAssignments:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _assignments)

    def list_for_member(self, org_id: str, user_id: str) -> list[RoleAssignment]:
        found = self._table.select(lambda a: a.org_id == org_id and a.user_id == user_id)
        return sorted(found, key=_by_time_then_role)

    def list_for_role(self, org_id: str, role_id: str) -> list[RoleAssignment]:
        found = self._table.select(lambda a: a.org_id == org_id and a.role_id == role_id)
        return sorted(found, key=_by_time_then_user)

    def add(self, assignment: RoleAssignment) -> None:
        key = (assignment.org_id, assignment.user_id, assignment.role_id)
        self._table.insert(key, assignment, code="role_already_assigned")

    def remove(self, org_id: str, user_id: str, role_id: str) -> None:
        self._table.delete((org_id, user_id, role_id), code="role_not_assigned")

    def end_all_for_role(self, org_id: str, role_id: str) -> None:
        self._table.delete_where(lambda a: a.org_id == org_id and a.role_id == role_id)
