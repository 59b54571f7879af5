"""The email outbox and the mailer that sends it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.model import EmailMessage, OutboxEntry


class OutboxRepository(Protocol):
    def add(self, message: EmailMessage, *, at: datetime) -> None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """Pending entries whose next attempt is due, claimed for this dispatcher."""

    def mark_sent(self, entry_id: str, *, at: datetime) -> None: ...
    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None: ...


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...
