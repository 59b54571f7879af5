"""The email outbox and the mailer that sends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.model import EmailMessage, OutboxEntry


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """How far behind the dispatcher is: what is PENDING, and since when."""

    pending: int  # PENDING entries, due or not (a claimed one is still PENDING)
    due: int  # of those, the ones whose next attempt is due
    oldest_pending_at: datetime | None  # when the oldest PENDING entry was added


class OutboxRepository(Protocol):
    def add(self, message: EmailMessage, *, at: datetime) -> None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """PENDING entries whose next attempt is due, oldest first."""

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        """Lease the entries to this dispatcher: their next attempt moves to `until`.

        Precondition, each: still PENDING with the next attempt that was read
        (`Conflict` `outbox_claimed`), so two dispatchers never claim the same entry.
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
