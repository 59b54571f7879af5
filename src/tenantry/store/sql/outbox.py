"""The email outbox on SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.ids import new_id
from tenantry.domain.model import EmailMessage, OutboxEntry, OutboxStatus
from tenantry.outbox.ports import OutboxStats
from tenantry.store.sql.schema import Id, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("last_error", sa.String(1000)),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)


def _entry(row: Any) -> OutboxEntry:
    message = EmailMessage(
        to=row.recipient, subject=row.subject, text=row.text_body, html=row.html_body, kind=row.kind
    )
    return OutboxEntry(
        id=row.id,
        message=message,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def _count(status: OutboxStatus) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).where(outbox.c.status == status.value).scalar_subquery()


class SqlOutbox:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def add(self, message: EmailMessage, *, at: datetime) -> None:
        self._writes.add(
            outbox.insert().values(
                id=new_id("msg"),
                kind=message.kind,
                recipient=message.to,
                subject=message.subject,
                text_body=message.text,
                html_body=message.html,
                created_at=at,
                next_attempt_at=at,
                status=OutboxStatus.PENDING.value,
                attempts=0,
            )
        )

    def get(self, entry_id: str) -> OutboxEntry | None:
        row = self._db.execute(sa.select(outbox).where(outbox.c.id == entry_id)).first()
        return _entry(row) if row is not None else None

    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        stmt = (
            sa.select(outbox)
            .where(outbox.c.status == OutboxStatus.PENDING.value, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        if self._db.dialect.name == "postgresql":
            # Skip rows another dispatcher is claiming right now, instead of waiting for it.
            # SQLite needs no lock: its claim's precondition runs under the one write lock.
            stmt = stmt.with_for_update(skip_locked=True)
        return [_entry(row) for row in self._db.execute(stmt)]

    def waiting(self, after: datetime, *, limit: int) -> list[OutboxEntry]:
        stmt = (
            sa.select(outbox)
            .where(
                outbox.c.status == OutboxStatus.PENDING.value,
                outbox.c.next_attempt_at > after,
                outbox.c.attempts > 0,
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return [_entry(row) for row in self._db.execute(stmt)]

    def dead(self, *, limit: int) -> list[OutboxEntry]:
        stmt = (
            sa.select(outbox)
            .where(outbox.c.status == OutboxStatus.DEAD.value, outbox.c.text_body != "")
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return [_entry(row) for row in self._db.execute(stmt)]

    def stats(self, now: datetime) -> OutboxStats:
        due = sa.case((outbox.c.next_attempt_at <= now, 1), else_=0)
        # Each status is counted over its own range of the (status, next_attempt_at) index.
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(due), 0),
            sa.func.min(outbox.c.created_at),
            _count(OutboxStatus.DEAD),
            _count(OutboxStatus.SENT),
        ).where(outbox.c.status == OutboxStatus.PENDING.value)
        pending, due_now, oldest, dead, sent = self._db.execute(stmt).one()
        return OutboxStats(
            pending=int(pending),
            due=int(due_now),
            dead=int(dead),
            sent=int(sent),
            oldest_pending_at=oldest,
        )

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        # On SQLite the read and this write are separate transactions: the precondition (the
        # next attempt is still the one read) is what keeps two dispatchers apart there.
        for entry in entries:
            stmt = (
                outbox.update()
                .where(
                    outbox.c.id == entry.id,
                    outbox.c.status == OutboxStatus.PENDING.value,
                    outbox.c.next_attempt_at == entry.next_attempt_at,
                )
                .values(next_attempt_at=until)
            )
            self._writes.add(stmt, expect=Expect.ONE_ROW, code="outbox_claimed")

    def make_due(self, entry: OutboxEntry, *, at: datetime) -> None:
        stmt = (
            outbox.update()
            .where(
                outbox.c.id == entry.id,
                outbox.c.status == entry.status.value,
                outbox.c.next_attempt_at == entry.next_attempt_at,
            )
            .values(status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=at)
        )
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="outbox_claimed")

    def mark_sent(self, entry_id: str, *, at: datetime) -> None:
        # The bodies carry one-time links: once delivered they are not kept.
        self._writes.add(
            outbox.update()
            .where(outbox.c.id == entry_id)
            .values(status=OutboxStatus.SENT.value, sent_at=at, text_body="", html_body="")
        )

    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None:
        # A dead entry keeps its bodies for `outbox retry --dead`; the links in them expire
        # on their own.
        values: dict[str, object] = {
            "status": (OutboxStatus.DEAD if dead else OutboxStatus.PENDING).value,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
            "last_error": error[:1000],
        }
        self._writes.add(outbox.update().where(outbox.c.id == entry_id).values(values))
