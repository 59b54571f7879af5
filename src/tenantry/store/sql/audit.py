"""The audit log on SQL: insert and read, nothing else (the runtime role cannot update)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import ActorType, AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.ids import new_id
from tenantry.store.sql.schema import Id, Json, UtcDateTime, metadata
from tenantry.store.sql.writes import WriteBuffer

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("event_id", Id, primary_key=True),
    sa.Column("org_id", Id, index=False),
    sa.Column("seq", sa.BigInteger),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("actor_id", Id),
    sa.Column("actor_type", sa.String(20), nullable=False),
    sa.Column("resource_type", sa.String(40)),
    sa.Column("resource_id", sa.String(100)),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("details", Json, nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
    sa.Index("ix_audit_org_time", "org_id", "occurred_at"),
    sa.Index("ix_audit_actor_time", "actor_id", "occurred_at"),
)


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        event_id=row.event_id,
        org_id=row.org_id,
        seq=row.seq,
        occurred_at=row.occurred_at,
        event_type=EventType(row.event_type),
        action=row.action,
        outcome=Outcome(row.outcome),
        actor_id=row.actor_id,
        actor_type=ActorType(row.actor_type),
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        reason=row.reason,
        details=dict(row.details),
        request_id=row.request_id,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAudit:
    def __init__(
        self, connection: sa.Connection, writes: WriteBuffer, request_id: str | None
    ) -> None:
        self._db = connection
        self._writes = writes
        self._request_id = request_id

    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        self._writes.add(
            audit_events.insert().values(
                event_id=new_id("evt"),
                org_id=draft.org_id,
                occurred_at=at,
                event_type=draft.event_type.value,
                action=draft.action,
                outcome=draft.outcome.value,
                actor_id=draft.actor_id,
                actor_type=draft.actor_type.value,
                resource_type=_clip(draft.resource_type, 40),
                resource_id=_clip(draft.resource_id, 100),
                reason=_clip(draft.reason, 200),
                details=draft.details,
                request_id=self._request_id,
            )
        )

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        column = audit_events.c
        stmt = sa.select(audit_events).where(
            column.org_id.is_(None) if query.org_id is None else column.org_id == query.org_id
        )
        if query.actor_id is not None:
            stmt = stmt.where(column.actor_id == query.actor_id)
        if query.action is not None:
            stmt = stmt.where(column.action == query.action)
        if query.outcome is not None:
            stmt = stmt.where(column.outcome == query.outcome.value)
        if query.request_id is not None:
            stmt = stmt.where(column.request_id == query.request_id)
        stmt = stmt.order_by(column.occurred_at, column.event_id).limit(query.limit)
        return [_event(row) for row in self._db.execute(stmt)]


def _clip(value: str | None, length: int) -> str | None:
    # An event about malformed input must still be recordable: overlong values are cut.
    return value[:length] if value is not None else None
