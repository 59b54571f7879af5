"""Identity links on SQL. Like users, the rows are global (no tenant)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantry.domain.errors import TenantryError
from tenantry.identities.ports import (
    MAX_ISSUER_LENGTH,
    MAX_SUBJECT_LENGTH,
    IdentityLink,
    LinkMethod,
)
from tenantry.store.sql.schema import Id, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer


def _bytewise(length: int) -> sa.types.TypeEngine[str]:
    # PostgreSQL's default collation orders by language rules; the list compares code points,
    # as SQLite and the memory store do.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


identity_links = sa.Table(
    "identity_links",
    metadata,
    sa.Column("issuer", _bytewise(MAX_ISSUER_LENGTH), primary_key=True),
    sa.Column("subject", _bytewise(MAX_SUBJECT_LENGTH), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_identity_links_user", "user_id", "issuer", "subject"),
)


def _link(row: Any) -> IdentityLink:
    return IdentityLink(
        issuer=row.issuer,
        subject=row.subject,
        user_id=row.user_id,
        method=LinkMethod(row.method),
        created_at=row.created_at,
    )


def _the_link(issuer: str, subject: str) -> sa.ColumnElement[bool]:
    return sa.and_(identity_links.c.issuer == issuer, identity_links.c.subject == subject)


class SqlIdentityLinks:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, issuer: str, subject: str) -> IdentityLink | None:
        row = self._db.execute(sa.select(identity_links).where(_the_link(issuer, subject))).first()
        return _link(row) if row else None

    def list(
        self, *, user_id: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> list[IdentityLink]:
        key = (identity_links.c.issuer, identity_links.c.subject)
        stmt = sa.select(identity_links).order_by(*key).limit(limit)
        if user_id is not None:
            stmt = stmt.where(identity_links.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(sa.tuple_(*key) > sa.tuple_(*(sa.literal(part) for part in after)))
        return [_link(row) for row in self._db.execute(stmt)]

    def add(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        values = {
            "issuer": link.issuer,
            "subject": link.subject,
            "user_id": link.user_id,
            "method": link.method.value,
            "created_at": link.created_at,
        }
        self._writes.add(
            identity_links.insert().values(values),
            expect=Expect.UNIQUE,
            code="identity_already_linked",
            on_conflict=on_conflict,
        )

    def remove(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        stmt = identity_links.delete().where(
            _the_link(link.issuer, link.subject), identity_links.c.user_id == link.user_id
        )
        self._writes.add(
            stmt, expect=Expect.ONE_ROW, code="identity_link_changed", on_conflict=on_conflict
        )
