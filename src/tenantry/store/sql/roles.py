"""Custom roles and their assignments on SQL: every query names the org it is for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import TenantryError
from tenantry.domain.roles import Role, RoleAssignment, RoleScope
from tenantry.store.cursor import role_order
from tenantry.store.sql.schema import Id, Json, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("permissions", Json, nullable=False),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime),
)
# Names are unique in an organisation ignoring case; the index is also what refuses a rename.
sa.Index("uq_roles_org_name", roles.c.org_id, sa.func.lower(roles.c.name), unique=True)

role_assignments = sa.Table(
    "role_assignments",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("user_id", Id, primary_key=True),
    sa.Column("role_id", Id, primary_key=True),
    sa.Column("assigned_at", UtcDateTime, nullable=False),
    sa.Column("assigned_by", Id, nullable=False),
    sa.Index("ix_role_assignments_role", "org_id", "role_id", "assigned_at", "user_id"),
)


def _role(row: Any) -> Role:
    return Role(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        permissions=tuple(row.permissions),
        scope=RoleScope(row.scope),
        created_at=row.created_at,
        description=row.description,
        updated_at=row.updated_at,
    )


def _assignment(row: Any) -> RoleAssignment:
    return RoleAssignment(
        org_id=row.org_id,
        user_id=row.user_id,
        role_id=row.role_id,
        assigned_at=row.assigned_at,
        assigned_by=row.assigned_by,
    )


def _the_role(org_id: str, role_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(roles.c.org_id == org_id, roles.c.id == role_id)


class SqlRoles:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str, role_id: str) -> Role | None:
        row = self._db.execute(sa.select(roles).where(_the_role(org_id, role_id))).first()
        return _role(row) if row else None

    def get_many(self, org_id: str, role_ids: Sequence[str]) -> list[Role]:
        if not role_ids:
            return []
        stmt = sa.select(roles).where(roles.c.org_id == org_id, roles.c.id.in_(list(role_ids)))
        return [_role(row) for row in self._db.execute(stmt)]

    def list(self, org_id: str) -> list[Role]:
        found = [
            _role(row) for row in self._db.execute(sa.select(roles).where(roles.c.org_id == org_id))
        ]
        return sorted(found, key=role_order)

    def add(self, role: Role) -> None:
        statement = roles.insert().values(
            org_id=role.org_id,
            id=role.id,
            name=role.name,
            description=role.description,
            permissions=list(role.permissions),
            scope=role.scope.value,
            created_at=role.created_at,
            updated_at=role.updated_at,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="role_name_taken")

    def update(self, role: Role, *, on_conflict: TenantryError | None = None) -> None:
        statement = (
            roles.update()
            .where(_the_role(role.org_id, role.id))
            .values(
                name=role.name,
                description=role.description,
                permissions=list(role.permissions),
                updated_at=role.updated_at,
            )
        )
        self._writes.add(
            statement,
            expect=Expect.ONE_ROW,
            code="role_changed",
            unique_code="role_name_taken",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, role_id: str) -> None:
        statement = roles.delete().where(_the_role(org_id, role_id))
        self._writes.add(statement, expect=Expect.ONE_ROW, code="role_changed")


def _the_assignment(org_id: str, user_id: str, role_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        role_assignments.c.org_id == org_id,
        role_assignments.c.user_id == user_id,
        role_assignments.c.role_id == role_id,
    )


class SqlRoleAssignments:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def list_for_member(self, org_id: str, user_id: str) -> list[RoleAssignment]:
        stmt = (
            sa.select(role_assignments)
            .where(role_assignments.c.org_id == org_id, role_assignments.c.user_id == user_id)
            .order_by(role_assignments.c.assigned_at, role_assignments.c.role_id)
        )
        return [_assignment(row) for row in self._db.execute(stmt)]

    def list_for_role(self, org_id: str, role_id: str) -> list[RoleAssignment]:
        stmt = (
            sa.select(role_assignments)
            .where(role_assignments.c.org_id == org_id, role_assignments.c.role_id == role_id)
            .order_by(role_assignments.c.assigned_at, role_assignments.c.user_id)
        )
        return [_assignment(row) for row in self._db.execute(stmt)]

    def add(self, assignment: RoleAssignment) -> None:
        statement = role_assignments.insert().values(
            org_id=assignment.org_id,
            user_id=assignment.user_id,
            role_id=assignment.role_id,
            assigned_at=assignment.assigned_at,
            assigned_by=assignment.assigned_by,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="role_already_assigned")

    def remove(self, org_id: str, user_id: str, role_id: str) -> None:
        statement = role_assignments.delete().where(_the_assignment(org_id, user_id, role_id))
        self._writes.add(statement, expect=Expect.ONE_ROW, code="role_not_assigned")

    def end_all_for_role(self, org_id: str, role_id: str) -> None:
        c = role_assignments.c
        self._writes.add(role_assignments.delete().where(c.org_id == org_id, c.role_id == role_id))
