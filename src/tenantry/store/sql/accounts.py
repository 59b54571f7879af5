"""Users and one-time tokens on SQL. These rows are global (no tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import OneTimeToken, TokenPurpose, User
from tenantry.store.sql.schema import Id, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("email_verified_at", UtcDateTime),
    sa.Column("session_epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reset_epoch", sa.BigInteger, nullable=False, server_default="0"),
)

one_time_tokens = sa.Table(
    "one_time_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        email_verified_at=row.email_verified_at,
        session_epoch=row.session_epoch,
        reset_epoch=row.reset_epoch,
    )


class SqlUsers:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

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
            "session_epoch": user.session_epoch,
            "reset_epoch": user.reset_epoch,
        }
        self._writes.add(users.insert().values(values), expect=Expect.UNIQUE, code="email_taken")

    def require_exists(self, user_id: str, *, on_conflict: TenantryError | None = None) -> None:
        check = sa.select(users.c.id).where(users.c.id == user_id)
        self._writes.add(
            check, expect=Expect.ONE_ROW, code="user_not_found", on_conflict=on_conflict
        )

    def set_password_hash(
        self,
        user_id: str,
        password_hash: str,
        *,
        expected_hash: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        stmt = (
            users.update()
            .where(users.c.id == user_id, users.c.password_hash == expected_hash)
            .values(password_hash=password_hash)
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="account_changed", on_conflict=on_conflict
        )

    def mark_verified(self, user_id: str, at: datetime) -> None:
        stmt = users.update().where(users.c.id == user_id).values(email_verified_at=at)
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="user_not_found")

    def bump_session_epoch(
        self, user_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        stmt = (
            users.update()
            .where(users.c.id == user_id, users.c.session_epoch == expected)
            .values(session_epoch=expected + 1)
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="account_changed", on_conflict=on_conflict
        )

    def set_reset_epoch(self, user_id: str, epoch: int) -> None:
        self._writes.add(users.update().where(users.c.id == user_id).values(reset_epoch=epoch))


def _one_time(row: Any) -> OneTimeToken:
    return OneTimeToken(
        id=row.id,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        epoch=row.epoch,
    )


class SqlOneTimeTokens:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get_by_hash(self, token_hash: str) -> OneTimeToken | None:
        stmt = sa.select(one_time_tokens).where(one_time_tokens.c.token_hash == token_hash)
        row = self._db.execute(stmt).first()
        return _one_time(row) if row else None

    def add(self, token: OneTimeToken) -> None:
        self._writes.add(
            one_time_tokens.insert().values(
                id=token.id,
                user_id=token.user_id,
                purpose=token.purpose.value,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                epoch=token.epoch,
            )
        )

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        stmt = (
            one_time_tokens.update()
            .where(one_time_tokens.c.id == token_id, one_time_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="token_used", on_conflict=on_conflict)
