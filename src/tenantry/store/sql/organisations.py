"""Organisations and memberships on SQL: every query names the org it is for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.model import (
    Membership,
    MembershipStatus,
    MemberView,
    Organisation,
    OrgStatus,
)
from tenantry.domain.roles import OrgRole
from tenantry.organisations.ports import MemberCursor
from tenantry.store.sql.rows import insert_or_conflict, require_one_row
from tenantry.store.sql.tables import memberships, organisations, users


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
        deleted_at=row.deleted_at,
        status_changed_at=row.status_changed_at,
    )


def _membership(row: Any, status: str | None = None) -> Membership:
    """`status` when the row's own `status` column is another table's (a join)."""
    return Membership(
        org_id=row.org_id,
        user_id=row.user_id,
        org_role=OrgRole(row.org_role),
        status=MembershipStatus(status or row.status),
        joined_at=row.joined_at,
        ended_at=row.ended_at,
    )


class SqlOrganisations:
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

    def get(self, org_id: str) -> Organisation | None:
        stmt = sa.select(organisations).where(organisations.c.id == org_id)
        row = self._db.execute(stmt).first()
        return _organisation(row) if row else None

    def add(self, org: Organisation) -> None:
        statement = organisations.insert().values(
            id=org.id,
            slug=org.slug,
            name=org.name,
            status=org.status.value,
            settings=org.settings,
            authz_epoch=org.authz_epoch,
            created_at=org.created_at,
            created_by=org.created_by,
            status_changed_at=org.status_changed_at,
        )
        insert_or_conflict(self._db, statement, "slug_taken", f"slug '{org.slug}' is taken")

    def update(self, org: Organisation, *, expected_version: int) -> None:
        stmt = (
            organisations.update()
            .where(organisations.c.id == org.id, organisations.c.version == expected_version)
            .values(
                name=org.name,
                settings=org.settings,
                status=org.status.value,
                provisioning_step=org.provisioning_step,
                provisioning_error=org.provisioning_error,
                deleted_at=org.deleted_at,
                status_changed_at=org.status_changed_at,
                version=org.version,
            )
        )
        detail = "the organisation changed meanwhile; read it again and retry"
        require_one_row(self._db.execute(stmt), "organisation_changed", detail)

    def list_for_user(self, user_id: str) -> list[tuple[Organisation, Membership]]:
        # Both tables have `status`: the membership's columns are labelled apart.
        stmt = (
            sa.select(
                organisations,
                memberships.c.org_id,
                memberships.c.user_id,
                memberships.c.org_role,
                memberships.c.status.label("membership_status"),
                memberships.c.joined_at,
                memberships.c.ended_at,
            )
            .join(memberships, memberships.c.org_id == organisations.c.id)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
                organisations.c.status != OrgStatus.DELETED.value,
            )
            .order_by(organisations.c.created_at, organisations.c.id)
        )
        rows = self._db.execute(stmt)
        return [(_organisation(row), _membership(row, row.membership_status)) for row in rows]


class SqlMemberships:
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

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
        )
        insert_or_conflict(self._db, statement, "already_member", "already a member")

    def end_all(self, org_id: str, at: datetime) -> int:
        result = self._db.execute(
            memberships.update()
            .where(
                memberships.c.org_id == org_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .values(status=MembershipStatus.ENDED.value, ended_at=at)
        )
        return result.rowcount

    def list_members(
        self, org_id: str, *, limit: int, after: MemberCursor | None
    ) -> list[MemberView]:
        stmt = (
            sa.select(memberships, users.c.email, users.c.name)
            .join(users, users.c.id == memberships.c.user_id)
            .where(
                memberships.c.org_id == org_id,
                memberships.c.status == MembershipStatus.ACTIVE.value,
            )
            .order_by(memberships.c.joined_at, memberships.c.user_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(
                sa.tuple_(memberships.c.joined_at, memberships.c.user_id)
                > sa.tuple_(
                    sa.literal(after.joined_at, memberships.c.joined_at.type), after.user_id
                )
            )
        return [_member_view(row) for row in self._db.execute(stmt)]


def _member_view(row: Any) -> MemberView:
    return MemberView(
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        org_role=OrgRole(row.org_role),
        status=MembershipStatus(row.status),
        joined_at=row.joined_at,
    )
