"""Invitations on SQL: every query names the organisation it is for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import Page
from tenantry.domain.roles import OrgRole
from tenantry.store.cursor import INVITATIONS, decode_cursor, invitation_position, page_of, scoped
from tenantry.store.sql.schema import Id, Json, UtcDateTime, after_position, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

PENDING = InvitationStatus.PENDING.value

invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("org_role", sa.String(20), nullable=False),
    sa.Column("role_ids", Json, nullable=False),
    sa.Column("team_id", Id),
    sa.Column("team_role", sa.String(40)),
    sa.Column("invited_by", Id, nullable=False),
    sa.Column("inviter_name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("last_sent_at", UtcDateTime, nullable=False),
    sa.Column("resend_count", sa.Integer, nullable=False),
    sa.Column("accepted_by", Id),
    sa.Column("ended_at", UtcDateTime),
    sa.Index("ux_invitations_token", "org_id", "token_hash", unique=True),
    sa.Index("ix_invitations_created", "org_id", "created_at", "id"),
)
# One PENDING invitation an address and organisation: the index is what refuses a second.
sa.Index(
    "ux_invitations_pending",
    invitations.c.org_id,
    invitations.c.email,
    unique=True,
    sqlite_where=invitations.c.status == PENDING,
    postgresql_where=invitations.c.status == PENDING,
)


def _invitation(row: Any) -> Invitation:
    return Invitation(
        id=row.id,
        org_id=row.org_id,
        email=row.email,
        org_role=OrgRole(row.org_role),
        role_ids=tuple(row.role_ids),
        team_id=row.team_id,
        team_role=row.team_role,
        invited_by=row.invited_by,
        inviter_name=row.inviter_name,
        token_hash=row.token_hash,
        status=InvitationStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_sent_at=row.last_sent_at,
        resend_count=row.resend_count,
        accepted_by=row.accepted_by,
        ended_at=row.ended_at,
    )


def _changing(invitation: Invitation) -> dict[str, Any]:
    return {
        "status": invitation.status.value,
        "token_hash": invitation.token_hash,
        "expires_at": invitation.expires_at,
        "last_sent_at": invitation.last_sent_at,
        "resend_count": invitation.resend_count,
        "accepted_by": invitation.accepted_by,
        "ended_at": invitation.ended_at,
    }


class SqlInvitations:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str, invitation_id: str) -> Invitation | None:
        column = invitations.c
        return self._first(column.org_id == org_id, column.id == invitation_id)

    def get_by_token_hash(self, org_id: str, token_hash: str) -> Invitation | None:
        column = invitations.c
        return self._first(column.org_id == org_id, column.token_hash == token_hash)

    def pending_for(self, org_id: str, email: str) -> Invitation | None:
        column = invitations.c
        return self._first(column.org_id == org_id, column.email == email, column.status == PENDING)

    def list(
        self,
        org_id: str,
        *,
        status: InvitationStatus | None,
        now: datetime,
        limit: int,
        cursor: str | None,
    ) -> Page[Invitation]:
        kind = scoped(INVITATIONS, org_id)
        column = invitations.c
        stmt = (
            sa.select(invitations)
            .where(column.org_id == org_id)
            .order_by(column.created_at, column.id)
            .limit(limit + 1)
        )
        if status is not None:
            stmt = stmt.where(_in_status(status, now))
        if cursor is not None:
            after = decode_cursor(cursor, kind=kind)
            stmt = stmt.where(after_position(column.created_at, column.id, after))
        found = [_invitation(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=invitation_position, kind=kind)

    def count_created_since(self, org_id: str, since: datetime) -> int:
        column = invitations.c
        stmt = (
            sa.select(sa.func.count())
            .select_from(invitations)
            .where(column.org_id == org_id, column.created_at >= since)
        )
        return int(self._db.execute(stmt).scalar_one())

    def add(self, invitation: Invitation) -> None:
        statement = invitations.insert().values(
            org_id=invitation.org_id,
            id=invitation.id,
            email=invitation.email,
            org_role=invitation.org_role.value,
            role_ids=list(invitation.role_ids),
            team_id=invitation.team_id,
            team_role=invitation.team_role,
            invited_by=invitation.invited_by,
            inviter_name=invitation.inviter_name,
            created_at=invitation.created_at,
            **_changing(invitation),
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="invitation_pending")

    def update(self, invitation: Invitation, *, expected: Invitation) -> None:
        column = invitations.c
        statement = (
            invitations.update()
            .where(
                column.org_id == invitation.org_id,
                column.id == invitation.id,
                column.status == PENDING,
                column.token_hash == expected.token_hash,
            )
            .values(**_changing(invitation))
        )
        self._writes.add(statement, expect=Expect.ONE_ROW, code="invitation_changed")

    def _first(self, *where: sa.ColumnElement[bool]) -> Invitation | None:
        row = self._db.execute(sa.select(invitations).where(*where)).first()
        return _invitation(row) if row is not None else None


def _in_status(status: InvitationStatus, now: datetime) -> sa.ColumnElement[bool]:
    column = invitations.c
    if status is InvitationStatus.EXPIRED:
        # Stored EXPIRED (replaced by a new invitation after it lapsed), or lapsed while pending.
        return sa.or_(
            column.status == InvitationStatus.EXPIRED.value,
            sa.and_(column.status == PENDING, column.expires_at <= now),
        )
    if status is InvitationStatus.PENDING:
        return sa.and_(column.status == PENDING, column.expires_at > now)
    return column.status == status.value
