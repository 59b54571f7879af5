"""The audit log in memory: append and find, as on SQL."""

from __future__ import annotations

from datetime import datetime

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import AuditDraft, AuditEvent
from tenantry.domain.ids import new_id
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _audit_events(state: MemoryState) -> dict[str, AuditEvent]:
    return state.audit_events


class MemoryAudit:
    def __init__(self, transaction: Transaction, request_id: str | None) -> None:
        self._table = Table(transaction, _audit_events)
        self._request_id = request_id

    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        event = AuditEvent(
            event_id=new_id("evt"),
            org_id=draft.org_id,
            occurred_at=at,
            event_type=draft.event_type,
            action=draft.action,
            outcome=draft.outcome,
            actor_id=draft.actor_id,
            actor_type=draft.actor_type,
            resource_type=_clip(draft.resource_type, 40),
            resource_id=_clip(draft.resource_id, 100),
            reason=_clip(draft.reason, 200),
            details=dict(draft.details),
            request_id=self._request_id,
        )
        self._table.insert(event.event_id, event)

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        found = self._table.select(lambda event: _matches(event, query))
        found.sort(key=lambda event: (event.occurred_at, event.event_id))
        return found[: query.limit]


def _matches(event: AuditEvent, query: AuditQuery) -> bool:
    # `org_id` None is a filter too: account events, which have no organisation.
    return (
        event.org_id == query.org_id
        and query.actor_id in (None, event.actor_id)
        and query.action in (None, event.action)
        and query.outcome in (None, event.outcome)
        and query.request_id in (None, event.request_id)
    )


def _clip(value: str | None, length: int) -> str | None:
    # The SQL columns' widths: an event about malformed input must still be recordable.
    return value[:length] if value is not None else None
