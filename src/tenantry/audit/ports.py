"""The audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.audit import AuditDraft, AuditEvent, Outcome


@dataclass(frozen=True, slots=True)
class AuditQuery:
    org_id: str | None
    actor_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    request_id: str | None = None  # the events one request recorded
    limit: int = 100


class AuditRepository(Protocol):
    def append(self, draft: AuditDraft, *, at: datetime) -> None: ...
    def find(self, query: AuditQuery) -> list[AuditEvent]: ...
