"""The email outbox in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tenantry.domain.ids import new_id
from tenantry.domain.model import EmailMessage, OutboxEntry, OutboxStatus
from tenantry.outbox.ports import OutboxStats
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _outbox(state: MemoryState) -> dict[str, OutboxEntry]:
    return state.outbox


class MemoryOutbox:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _outbox)

    def add(self, message: EmailMessage, *, at: datetime) -> None:
        entry = OutboxEntry(id=new_id("msg"), message=message, created_at=at, next_attempt_at=at)
        self._table.insert(entry.id, entry)

    def get(self, entry_id: str) -> OutboxEntry | None:
        return self._table.get(entry_id)

    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        found = self._table.select(
            lambda entry: entry.status == OutboxStatus.PENDING and entry.next_attempt_at <= now
        )
        return _in_attempt_order(found)[:limit]

    def waiting(self, after: datetime, *, limit: int) -> list[OutboxEntry]:
        found = self._table.select(
            lambda entry: (
                entry.status == OutboxStatus.PENDING
                and entry.next_attempt_at > after
                and entry.attempts > 0
            )
        )
        return _in_attempt_order(found)[:limit]

    def dead(self, *, limit: int) -> list[OutboxEntry]:
        found = self._table.select(
            lambda entry: entry.status == OutboxStatus.DEAD and entry.message.text != ""
        )
        return _in_attempt_order(found)[:limit]

    def stats(self, now: datetime) -> OutboxStats:
        entries = self._table.select(lambda _entry: True)
        pending = [entry for entry in entries if entry.status == OutboxStatus.PENDING]
        return OutboxStats(
            pending=len(pending),
            due=sum(1 for entry in pending if entry.next_attempt_at <= now),
            dead=sum(1 for entry in entries if entry.status == OutboxStatus.DEAD),
            sent=sum(1 for entry in entries if entry.status == OutboxStatus.SENT),
            oldest_pending_at=min((entry.created_at for entry in pending), default=None),
        )

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        for entry in entries:
            self._claim(entry, until)

    def _claim(self, read: OutboxEntry, until: datetime) -> None:
        self._table.update(
            read.id,
            lambda entry: replace(entry, next_attempt_at=until),
            precondition=lambda entry: (
                entry.status == OutboxStatus.PENDING
                and entry.next_attempt_at == read.next_attempt_at
            ),
            code="outbox_claimed",
        )

    def make_due(self, entry: OutboxEntry, *, at: datetime) -> None:
        self._table.update(
            entry.id,
            lambda stored: replace(
                stored, status=OutboxStatus.PENDING, attempts=0, next_attempt_at=at
            ),
            precondition=lambda stored: (
                stored.status == entry.status and stored.next_attempt_at == entry.next_attempt_at
            ),
            code="outbox_claimed",
        )

    def mark_sent(self, entry_id: str, *, at: datetime) -> None:
        self._table.update(
            entry_id,
            lambda entry: replace(_without_bodies(entry), status=OutboxStatus.SENT, sent_at=at),
        )

    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None:
        # A dead entry keeps its bodies for `outbox retry --dead`.
        self._table.update(
            entry_id,
            lambda entry: replace(
                entry,
                status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_error=error[:1000],
            ),
        )


def _in_attempt_order(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    return sorted(entries, key=lambda entry: (entry.next_attempt_at, entry.id))


def _without_bodies(entry: OutboxEntry) -> OutboxEntry:
    # The bodies carry one-time links: once delivered they are not kept.
    return replace(entry, message=replace(entry.message, text="", html=""))
