"""Organisations and memberships on SQL: every query names the org it is for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Membership, MembershipStatus, Organisation, OrgStatus, Page
from tenantry.domain.roles import OrgRole
from tenantry.store.cursor import (
    MEMBERS,
    MEMBERSHIPS,
    decode_cursor,
    member_position,
    membership_position,
    page_of,
)
from tenantry.store.sql.schema import Id, Json, UtcDateTime, after_position, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("slug", sa.String(63), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("settings", Json, nullable=False),
    sa.Column("authz_epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("provisioning_step", sa.String(100)),
    sa.Column("provisioning_error", sa.String(1000)),
    sa.Column("provisioning_workflow_id", sa.String(200)),
    sa.Column("provisioning_run_id", sa.String(100)),
    sa.Column("deleted_at", UtcDateTime),
    sa.Column("status_changed_at", UtcDateTime),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("org_role", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_memberships_user", "user_id"),
    sa.Index("ix_memberships_org_joined", "org_id", "joined_at", "user_id"),
)


def _organisation(row: Any) -> Organisation:
    return Organisation(
        id=row.id,
        slug=row.slug,
        name=row.name,
        status=OrgStatus(row.status),
        settings=dict(row.settings),
        authz_epoch=row.authz_epoch,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        provisioning_step=row.provisioning_step,
        provisioning_error=row.provisioning_error,
        provisioning_workflow_id=row.provisioning_workflow_id,
        provisioning_run_id=row.provisioning_run_id,
        deleted_at=row.deleted_at,
        status_changed_at=row.status_changed_at,
    )


def _membership(row: Any) -> Membership:
    return Membership(
        org_id=row.org_id,
        user_id=row.user_id,
        org_role=OrgRole(row.org_role),
        status=MembershipStatus(row.status),
        joined_at=row.joined_at,
        ended_at=row.ended_at,
        email=row.email,
        name=row.name,
    )


# Created by migration 0004 (PostgreSQL only).
_ORG_ID_FOR_SLUG = sa.text("SELECT tenantry_org_id_for_slug(:slug)")


class SqlOrganisations:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str) -> Organisation | None:
        stmt = sa.select(organisations).where(organisations.c.id == org_id)
        row = self._db.execute(stmt).first()
        return _organisation(row) if row else None

    def get_many(self, org_ids: Sequence[str]) -> list[Organisation]:
        if not org_ids:
            return []
        stmt = sa.select(organisations).where(organisations.c.id.in_(list(org_ids)))
        return [_organisation(row) for row in self._db.execute(stmt)]

    def get_id_by_slug(self, slug: str) -> str | None:
        if self._db.dialect.name == "postgresql":
            # Row-level security hides every organisation until one is bound: the migration's
            # SECURITY DEFINER function answers this one question, and only with the id.
            found = self._db.scalar(_ORG_ID_FOR_SLUG, {"slug": slug})
        else:
            found = self._db.scalar(
                sa.select(organisations.c.id).where(organisations.c.slug == slug)
            )
        return str(found) if found is not None else None

    def add(self, org: Organisation) -> None:
        statement = organisations.insert().values(
            id=org.id,
            slug=org.slug,
            name=org.name,
            status=org.status.value,
            settings=org.settings,
            authz_epoch=org.authz_epoch,
            version=org.version,
            created_at=org.created_at,
            created_by=org.created_by,
            status_changed_at=org.status_changed_at,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="slug_taken")

    def update(
        self,
        org: Organisation,
        *,
        expected_version: int,
        on_conflict: TenantryError | None = None,
    ) -> None:
        stmt = (
            organisations.update()
            .where(organisations.c.id == org.id, organisations.c.version == expected_version)
            .values(
                name=org.name,
                settings=org.settings,
                status=org.status.value,
                provisioning_step=org.provisioning_step,
                provisioning_error=org.provisioning_error,
                provisioning_workflow_id=org.provisioning_workflow_id,
                provisioning_run_id=org.provisioning_run_id,
                deleted_at=org.deleted_at,
                status_changed_at=org.status_changed_at,
                version=org.version,
            )
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="organisation_changed", on_conflict=on_conflict
        )

    def bump_authz_epoch(
        self, org_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        stmt = (
            organisations.update()
            .where(organisations.c.id == org_id, organisations.c.authz_epoch == expected)
            .values(authz_epoch=expected + 1)
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="access_changed", on_conflict=on_conflict
        )


class SqlMemberships:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str, user_id: str) -> Membership | None:
        stmt = sa.select(memberships).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id
        )
        row = self._db.execute(stmt).first()
        return _membership(row) if row else None

    def add(self, membership: Membership) -> None:
        statement = memberships.insert().values(
            org_id=membership.org_id,
            user_id=membership.user_id,
            org_role=membership.org_role.value,
            status=membership.status.value,
            joined_at=membership.joined_at,
            email=membership.email,
            name=membership.name,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="already_member")

    def require_active(
        self, org_id: str, user_id: str, *, on_conflict: TenantryError | None = None
    ) -> None:
        check = sa.select(memberships.c.user_id).where(
            memberships.c.org_id == org_id,
            memberships.c.user_id == user_id,
            memberships.c.status == MembershipStatus.ACTIVE.value,
        )
        self._writes.add(
            check, expect=Expect.ONE_ROW, code="membership_changed", on_conflict=on_conflict
        )

    def update(self, membership: Membership, *, on_conflict: TenantryError | None = None) -> None:
        stmt = (
            memberships.update()
            .where(
                memberships.c.org_id == membership.org_id,
                memberships.c.user_id == membership.user_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .values(
                org_role=membership.org_role.value,
                status=membership.status.value,
                ended_at=membership.ended_at,
            )
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="membership_changed", on_conflict=on_conflict
        )

    def rejoin(self, membership: Membership) -> None:
        stmt = (
            memberships.update()
            .where(
                memberships.c.org_id == membership.org_id,
                memberships.c.user_id == membership.user_id,
                memberships.c.status == MembershipStatus.ENDED.value,
            )
            .values(
                org_role=membership.org_role.value,
                status=MembershipStatus.ACTIVE.value,
                joined_at=membership.joined_at,
                ended_at=None,
                email=membership.email,
                name=membership.name,
            )
        )
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="membership_changed")

    def list_with_role(self, org_id: str, org_role: OrgRole) -> list[Membership]:
        stmt = (
            sa.select(memberships)
            .where(
                memberships.c.org_id == org_id,
                memberships.c.org_role == org_role.value,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .order_by(memberships.c.joined_at, memberships.c.user_id)
        )
        return [_membership(row) for row in self._db.execute(stmt)]

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        stmt = (
            sa.select(memberships)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .order_by(memberships.c.joined_at, memberships.c.org_id)
            .limit(limit + 1)
        )
        if cursor is not None:
            after = decode_cursor(cursor, kind=MEMBERSHIPS)
            stmt = stmt.where(after_position(memberships.c.joined_at, memberships.c.org_id, after))
        found = [_membership(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=membership_position, kind=MEMBERSHIPS)

    def list_joined_as_owner_since(
        self, user_id: str, *, since: datetime, limit: int
    ) -> list[Membership]:
        stmt = (
            sa.select(memberships)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.org_role == OrgRole.OWNER.value,
                memberships.c.joined_at >= since,
            )
            .order_by(memberships.c.joined_at, memberships.c.org_id)
            .limit(limit)
        )
        return [_membership(row) for row in self._db.execute(stmt)]

    def list_members(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        stmt = (
            sa.select(memberships)
            .where(
                memberships.c.org_id == org_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .order_by(memberships.c.joined_at, memberships.c.user_id)
            .limit(limit + 1)
        )
        if cursor is not None:
            after = decode_cursor(cursor, kind=MEMBERS)
            stmt = stmt.where(after_position(memberships.c.joined_at, memberships.c.user_id, after))
        found = [_membership(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=member_position, kind=MEMBERS)
