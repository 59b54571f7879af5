"""Sessions and refresh tokens on SQL. These rows are global (no tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page, RefreshToken, Session
from tenantry.store.cursor import SESSIONS, decode_cursor, page_of, session_position
from tenantry.store.sql.schema import Id, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("org_id", Id),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("ip_address", sa.String(64)),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("revoked_reason", sa.String(64)),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("session_id", Id, sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("parent_id", Id),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        org_id=row.org_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
        ip_address=row.ip_address,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        epoch=row.epoch,
    )


class SqlSessions:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, session_id: str) -> Session | None:
        row = self._db.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
        return _session(row) if row else None

    def add(self, session: Session) -> None:
        self._writes.add(
            sessions.insert().values(
                id=session.id,
                user_id=session.user_id,
                org_id=session.org_id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                user_agent=session.user_agent,
                ip_address=session.ip_address,
                epoch=session.epoch,
            )
        )

    def record_use(
        self,
        session_id: str,
        *,
        at: datetime,
        org_id: str | None,
        on_conflict: TenantryError | None = None,
    ) -> None:
        stmt = (
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(last_used_at=at, org_id=org_id)
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="session_revoked", on_conflict=on_conflict
        )

    def set_epoch(self, session_id: str, epoch: int) -> None:
        self._writes.add(sessions.update().where(sessions.c.id == session_id).values(epoch=epoch))

    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None:
        self._writes.add(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )

    def list_live_for_user(
        self, user_id: str, *, now: datetime, min_epoch: int, limit: int, cursor: str | None
    ) -> Page[Session]:
        stmt = (
            sa.select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                sessions.c.epoch >= min_epoch,
            )
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
            .limit(limit + 1)
        )
        if cursor is not None:
            created_at, session_id = decode_cursor(cursor, kind=SESSIONS)
            stmt = stmt.where(
                sa.or_(
                    sessions.c.created_at < created_at,
                    sa.and_(sessions.c.created_at == created_at, sessions.c.id > session_id),
                )
            )
        found = [_session(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=session_position, kind=SESSIONS)


def _refresh(row: Any) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        session_id=row.session_id,
        token_hash=row.token_hash,
        parent_id=row.parent_id,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlRefreshTokens:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        stmt = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = self._db.execute(stmt).first()
        return _refresh(row) if row else None

    def add(self, token: RefreshToken) -> None:
        self._writes.add(
            refresh_tokens.insert().values(
                id=token.id,
                session_id=token.session_id,
                token_hash=token.token_hash,
                parent_id=token.parent_id,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
            )
        )

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        stmt = (
            refresh_tokens.update()
            .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="refresh_token_used", on_conflict=on_conflict
        )
