"""The audit log on SQL: events on hash chains, one head row per chain.

Events are chained at commit, after every other write of the unit of work: the chain's head
row is locked (an upsert that returns it), the events take the next seqs, and the head moves.
Another writer to the same chain waits only for that commit; other chains are not touched.
On SQLite the write transaction already holds the database's one write lock.

The runtime role may insert events but neither update nor delete them, except that pruning
may delete events the archive holds (PostgreSQL enforces both with row-level security).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.audit.ports import AuditQuery, ChainState
from tenantry.domain.audit import (
    ActorType,
    AuditDraft,
    AuditEvent,
    EventType,
    Outcome,
    unchained_event,
)
from tenantry.domain.audit_chain import GENESIS, Anchor, ChainHead, chain_of, chained
from tenantry.store.sql.schema import Id, Json, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

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
    # Every filter's first page reads one index range, newest first (migration 0007).
    sa.Index("ux_audit_org_seq", "org_id", "seq", unique=True),
    sa.Index("ix_audit_org_time", "org_id", "occurred_at", "seq"),
    sa.Index("ix_audit_org_actor", "org_id", "actor_id", "seq"),
    sa.Index("ix_audit_org_type", "org_id", "event_type", "seq"),
    sa.Index("ix_audit_org_resource", "org_id", "resource_type", "resource_id", "seq"),
    sa.Index("ix_audit_org_outcome", "org_id", "outcome", "seq"),
    sa.Index("ix_audit_org_action", "org_id", "action", "seq"),
)

audit_chains = sa.Table(
    "audit_chains",
    metadata,
    sa.Column("chain_id", Id, primary_key=True),
    sa.Column("org_id", Id),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("latest_at", UtcDateTime),
    sa.Column("backstep_us", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("archived_seq", sa.BigInteger, nullable=False),
    sa.Column("archived_hash", sa.String(64), nullable=False),
    sa.Column("start_seq", sa.BigInteger, nullable=False),
    sa.Column("start_hash", sa.String(64), nullable=False),
)

_NO_SEQ_AFTER = 2**63 - 1  # the largest BIGINT
_FILTERS = ("actor_id", "resource_type", "resource_id", "action", "request_id")


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


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "org_id": event.org_id,
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "event_type": event.event_type.value,
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_type": event.actor_type.value,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "details": event.details,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _head(row: Any) -> ChainHead:
    backstep = timedelta(microseconds=row.backstep_us)
    return ChainHead(row.chain_id, row.seq, row.hash, row.latest_at, backstep)


def _state(row: Any) -> ChainState:
    return ChainState(
        org_id=row.org_id,
        head=_head(row),
        archived=Anchor(row.archived_seq, row.archived_hash),
        start=Anchor(row.start_seq, row.start_hash),
    )


class SqlAudit:
    def __init__(
        self, connection: sa.Connection, writes: WriteBuffer, request_id: str | None
    ) -> None:
        self._db = connection
        self._writes = writes
        self._request_id = request_id

    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        self._writes.add_event(unchained_event(draft, at=at, request_id=self._request_id))

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        stmt = _select(query)
        if query.since is not None or query.until is not None:
            state = self.chain(query.org_id)
            if state is None:
                return []
            after, before = self._db.execute(_seq_bounds(query, state.head.backstep)).one()
            # As literals, not subqueries: the planner then sees how narrow the range is and
            # reads the filter's index between the bounds instead of the whole chain.
            stmt = stmt.where(
                audit_events.c.seq > (after or 0), audit_events.c.seq < (before or _NO_SEQ_AFTER)
            )
            stmt = _within_time(stmt, query)
        return [_event(row) for row in self._db.execute(stmt)]

    def get(self, org_id: str | None, event_id: str) -> AuditEvent | None:
        column = audit_events.c
        stmt = sa.select(audit_events).where(_in_chain(org_id), column.event_id == event_id)
        row = self._db.execute(stmt).first()
        return _event(row) if row is not None else None

    def chain(self, org_id: str | None) -> ChainState | None:
        stmt = sa.select(audit_chains).where(audit_chains.c.chain_id == chain_of(org_id))
        row = self._db.execute(stmt).first()
        return _state(row) if row is not None else None

    def chains(self) -> list[ChainState]:
        stmt = sa.select(audit_chains).order_by(audit_chains.c.chain_id)
        return [_state(row) for row in self._db.execute(stmt)]

    def mark_archived(self, org_id: str | None, *, was: Anchor, now: Anchor) -> None:
        column = audit_chains.c
        self._writes.add(
            audit_chains.update()
            .where(
                column.chain_id == chain_of(org_id),
                column.archived_seq == was.seq,
                column.archived_hash == was.hash,
            )
            .values(archived_seq=now.seq, archived_hash=now.hash),
            expect=Expect.ONE_ROW,
            code="archive_moved",
        )

    def prune(self, org_id: str | None, *, through: Anchor) -> None:
        column = audit_chains.c
        # The chain row first: it must hold `through` as archived, or nothing is deleted.
        self._writes.add(
            audit_chains.update()
            .where(
                column.chain_id == chain_of(org_id),
                column.archived_seq >= through.seq,
                column.start_seq <= through.seq,
            )
            .values(start_seq=through.seq, start_hash=through.hash),
            expect=Expect.ONE_ROW,
            code="not_archived",
        )
        self._writes.add(
            audit_events.delete().where(_in_chain(org_id), audit_events.c.seq <= through.seq)
        )


def _select(query: AuditQuery) -> sa.Select[Any]:
    column = audit_events.c
    stmt = sa.select(audit_events).where(_in_chain(query.org_id))
    for name in _FILTERS:
        value = getattr(query, name)
        if value is not None:
            stmt = stmt.where(column[name] == value)
    if query.event_type is not None:
        stmt = stmt.where(column.event_type == query.event_type.value)
    if query.outcome is not None:
        stmt = stmt.where(column.outcome == query.outcome.value)
    if query.before_seq is not None:
        stmt = stmt.where(column.seq < query.before_seq)
    if query.after_seq is not None:
        stmt = stmt.where(column.seq > query.after_seq)
    # Ascending, rows without a seq (which no writer leaves) come first, for the verifier.
    order = column.seq.desc() if query.newest_first else column.seq.asc().nulls_first()
    return stmt.order_by(order).limit(query.limit)


def _within_time(stmt: sa.Select[Any], query: AuditQuery) -> sa.Select[Any]:
    column = audit_events.c
    if query.since is not None:
        stmt = stmt.where(column.occurred_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(column.occurred_at < query.until)
    return stmt


def _seq_bounds(query: AuditQuery, backstep: timedelta) -> sa.Select[Any]:
    """The seqs between which every event of the time range lies (null: no bound).

    No event's time lies more than `backstep` before an earlier event's. So every event up to
    one stamped before `since - backstep` is before `since`, and every event from one stamped
    at `until + backstep` on is at or after `until`. Each bound is one probe of the (org,
    time) index; the page then reads its filter's index in seq order between them, so it
    costs the same however old its range or long the chain. While clocks never run
    backwards, `backstep` is zero and the range is exact.
    """
    column = audit_events.c
    after: sa.ScalarSelect[Any] | sa.Null = sa.null()
    before: sa.ScalarSelect[Any] | sa.Null = sa.null()
    if query.since is not None:
        after = (
            sa.select(column.seq)
            .where(_in_chain(query.org_id), column.occurred_at < query.since - backstep)
            .order_by(column.occurred_at.desc(), column.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
    if query.until is not None:
        before = (
            sa.select(column.seq)
            .where(_in_chain(query.org_id), column.occurred_at >= query.until + backstep)
            .order_by(column.occurred_at, column.seq)
            .limit(1)
            .scalar_subquery()
        )
    return sa.select(after, before)


def _in_chain(org_id: str | None) -> sa.ColumnElement[bool]:
    column = audit_events.c.org_id
    return column.is_(None) if org_id is None else column == org_id


def append_chained(db: sa.Connection, events: list[AuditEvent]) -> None:
    """Chain and insert a unit of work's events; called at commit, after its other writes.

    Chains are locked in chain id order, so two transactions that write to the same two
    chains cannot deadlock on them.
    """
    by_chain: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        by_chain[chain_of(event.org_id)].append(event)
    for chain_id in sorted(by_chain):
        pending = by_chain[chain_id]
        head = _locked_head(db, chain_id, pending[0].org_id)
        linked, moved = chained(head, pending)
        db.execute(audit_events.insert(), [_row(event) for event in linked])
        db.execute(
            audit_chains.update()
            .where(audit_chains.c.chain_id == chain_id)
            .values(
                seq=moved.seq,
                hash=moved.hash,
                latest_at=moved.latest_at,
                backstep_us=moved.backstep // timedelta(microseconds=1),
            )
        )


def _locked_head(db: sa.Connection, chain_id: str, org_id: str | None) -> ChainHead:
    # An upsert that changes nothing still locks the row until commit, and creates the head
    # of a chain's first event; both dialects return the row as it now is.
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    column = audit_chains.c
    stmt = (
        dialect.insert(audit_chains)
        .values(
            chain_id=chain_id,
            org_id=org_id,
            seq=0,
            hash=GENESIS,
            archived_seq=0,
            archived_hash=GENESIS,
            start_seq=0,
            start_hash=GENESIS,
        )
        .on_conflict_do_update(index_elements=[column.chain_id], set_={"seq": column.seq})
        .returning(audit_chains)
    )
    return _head(db.execute(stmt).one())
