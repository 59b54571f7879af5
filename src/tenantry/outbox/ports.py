"""The email outbox and the mailer that sends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.model import EmailMessage, OutboxEntry


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """How far behind the dispatcher is, and what it gave up on."""

    pending: int  # PENDING entries, due or not (a claimed one is still PENDING)
    due: int  # of those, the ones whose next attempt is due
    dead: int  # DEAD entries: given up on after the last attempt, kept for a retry
    sent: int  # SENT entries
    oldest_pending_at: datetime | None  # when the oldest PENDING entry was added


class OutboxRepository(Protocol):
    """Entries go PENDING → SENT, or PENDING → DEAD after the last failed attempt; an
    operator's retry (`make_due`) takes a failed or DEAD entry back to PENDING. A SENT entry
    keeps no bodies (they carry one-time links); a DEAD one keeps them, so that a retry can
    still send it."""

    def add(self, message: EmailMessage, *, at: datetime) -> None: ...
    def get(self, entry_id: str) -> OutboxEntry | None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """PENDING entries whose next attempt is due, oldest first.

        On PostgreSQL the rows read stay locked until the unit of work ends, and rows another
        unit of work holds are skipped (`FOR UPDATE SKIP LOCKED`): several dispatchers read
        disjoint batches instead of racing for the same one.
        """

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        """Lease the entries to this dispatcher: their next attempt moves to `until`.

        Precondition, each: still PENDING with the next attempt that was read
        (`Conflict` `outbox_claimed`), so two dispatchers never claim the same entry. A claim
        of entries as leased, `until` now, hands them back.
        """

    def waiting(self, after: datetime, *, limit: int) -> list[OutboxEntry]:
        """PENDING entries that failed at least once and whose next attempt is later than
        `after`, soonest first: the ones backing off."""

    def dead(self, *, limit: int) -> list[OutboxEntry]:
        """DEAD entries that still hold their message, in the order they died (an entry
        that died before dead letters were kept has no bodies left to send)."""

    def make_due(self, entry: OutboxEntry, *, at: datetime) -> None:
        """The entry as read, PENDING or DEAD, is PENDING again and due at `at`, with no
        attempt counted; its last error stays, for the record.

        Precondition: still in the status and with the next attempt that was read
        (`Conflict` `outbox_claimed`), so an entry a dispatcher claimed, sent or failed
        meanwhile is left to it.
        """

    def stats(self, now: datetime) -> OutboxStats:
        """Counts over the whole outbox (one aggregate read, for monitoring); `due` counts the
        entries `due(now)` would return with no limit."""

    def mark_sent(self, entry_id: str, *, at: datetime) -> None: ...
    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None: ...


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...
