"""Users, sessions, refresh tokens and one-time tokens on SQL. These rows are global."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import Conflict
from tenantry.domain.model import OneTimeToken, RefreshToken, Session, TokenPurpose, User
from tenantry.store.sql.rows import insert_or_conflict, require_one_row
from tenantry.store.sql.tables import one_time_tokens, refresh_tokens, sessions, users


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        email_verified_at=row.email_verified_at,
    )


class SqlUsers:
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

    def get(self, user_id: str) -> User | None:
        row = self._db.execute(sa.select(users).where(users.c.id == user_id)).first()
        return _user(row) if row else None

    def get_by_email(self, email: str) -> User | None:
        row = self._db.execute(sa.select(users).where(users.c.email == email)).first()
        return _user(row) if row else None

    def add(self, user: User) -> None:
        values = {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
            "email_verified_at": user.email_verified_at,
        }
        insert_or_conflict(self._db, users.insert().values(values), "email_taken", "email is taken")

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        stmt = users.update().where(users.c.id == user_id).values(password_hash=password_hash)
        require_one_row(self._db.execute(stmt), "user_not_found", "user not found")

    def mark_verified(self, user_id: str, at: datetime) -> None:
        stmt = users.update().where(users.c.id == user_id).values(email_verified_at=at)
        require_one_row(self._db.execute(stmt), "user_not_found", "user not found")


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
    )


class SqlSessions:
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

    def get(self, session_id: str) -> Session | None:
        row = self._db.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
        return _session(row) if row else None

    def add(self, session: Session) -> None:
        self._db.execute(
            sessions.insert().values(
                id=session.id,
                user_id=session.user_id,
                org_id=session.org_id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
                user_agent=session.user_agent,
                ip_address=session.ip_address,
            )
        )

    def record_use(self, session_id: str, *, at: datetime, org_id: str | None) -> None:
        stmt = (
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(last_used_at=at, org_id=org_id)
        )
        require_one_row(self._db.execute(stmt), "session_revoked", "session has been revoked")

    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None:
        self._db.execute(
            sessions.update()
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )

    def revoke_all_for_user(self, user_id: str, *, at: datetime, reason: str) -> int:
        result = self._db.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )
        return result.rowcount

    def list_live_for_user(self, user_id: str, now: datetime) -> list[Session]:
        rows = self._db.execute(
            sa.select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.created_at.desc(), sessions.c.id)
        )
        return [_session(row) for row in rows]


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
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        stmt = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = self._db.execute(stmt).first()
        return _refresh(row) if row else None

    def add(self, token: RefreshToken) -> None:
        self._db.execute(
            refresh_tokens.insert().values(
                id=token.id,
                session_id=token.session_id,
                token_hash=token.token_hash,
                parent_id=token.parent_id,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
            )
        )

    def mark_used(self, token_id: str, at: datetime) -> None:
        stmt = (
            refresh_tokens.update()
            .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        if self._db.execute(stmt).rowcount != 1:
            raise Conflict("refresh token already used", code="refresh_token_used")


def _one_time(row: Any) -> OneTimeToken:
    return OneTimeToken(
        id=row.id,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlOneTimeTokens:
    def __init__(self, connection: sa.Connection) -> None:
        self._db = connection

    def get_by_hash(self, token_hash: str) -> OneTimeToken | None:
        stmt = sa.select(one_time_tokens).where(one_time_tokens.c.token_hash == token_hash)
        row = self._db.execute(stmt).first()
        return _one_time(row) if row else None

    def add(self, token: OneTimeToken) -> None:
        self._db.execute(
            one_time_tokens.insert().values(
                id=token.id,
                user_id=token.user_id,
                purpose=token.purpose.value,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    def mark_used(self, token_id: str, at: datetime) -> None:
        stmt = (
            one_time_tokens.update()
            .where(one_time_tokens.c.id == token_id, one_time_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        if self._db.execute(stmt).rowcount != 1:
            raise Conflict("token already used", code="token_used")

    def expire_unused(self, user_id: str, purpose: TokenPurpose, at: datetime) -> None:
        self._db.execute(
            one_time_tokens.update()
            .where(
                one_time_tokens.c.user_id == user_id,
                one_time_tokens.c.purpose == purpose.value,
                one_time_tokens.c.used_at.is_(None),
            )
            .values(expires_at=at)
        )
