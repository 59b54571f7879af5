"""The email outbox and the mailer that sends it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tenantry.domain.model import EmailMessage, OutboxEntry


class OutboxRepository(Protocol):
    def add(self, message: EmailMessage, *, at: datetime) -> None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """PENDING entries whose next attempt is due, oldest first."""

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        """Lease the entries to this dispatcher: their next attempt moves to `until`.

        Precondition, each: still PENDING with the next attempt that was read
        (`Conflict` `outbox_claimed`), so two dispatchers never claim the same entry.
        """

    def mark_sent(self, entry_id: str, *, at: datetime) -> None: ...
    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None: ...


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...
