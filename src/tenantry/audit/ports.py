"""The audit log: append-only events on hash chains, their queries, and the archive's marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.audit import AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import GENESIS, NO_ANCHOR, Anchor, ChainHead


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Events of one chain (`org_id` None: the system chain), in `seq` order.

    Every filter given must hold. `since` is inclusive, `until` exclusive. `before_seq` and
    `after_seq` bound the seq range (a cursor, an archive's watermark).
    """

    org_id: str | None
    actor_id: str | None = None
    event_type: EventType | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    request_id: str | None = None  # the events one request recorded
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    after_seq: int | None = None
    newest_first: bool = False
    limit: int = 100


def matches_filters(event: AuditEvent, query: AuditQuery) -> bool:
    """Whether the event has every value the query filters on, and lies in its time range
    (the chain and the seq bounds aside, which a store reads by key)."""
    return (
        query.actor_id in (None, event.actor_id)
        and query.event_type in (None, event.event_type)
        and query.resource_type in (None, event.resource_type)
        and query.resource_id in (None, event.resource_id)
        and query.action in (None, event.action)
        and query.outcome in (None, event.outcome)
        and query.request_id in (None, event.request_id)
        and (query.since is None or event.occurred_at >= query.since)
        and (query.until is None or event.occurred_at < query.until)
    )


@dataclass(frozen=True, slots=True)
class ChainState:
    """A chain as the store keeps it: its head, how far it is archived, where it now starts.

    `archived` is the last event the archive holds (seq 0: none); `start` is the event the
    first stored one follows (seq 0 unless archived events were pruned).
    """

    org_id: str | None
    head: ChainHead
    archived: Anchor = NO_ANCHOR
    start: Anchor = NO_ANCHOR


class AuditRepository(Protocol):
    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        """Buffer an event; it is chained (seq, prev_hash, hash) when the unit of work commits."""
        ...

    def find(self, query: AuditQuery) -> list[AuditEvent]: ...

    def get(self, org_id: str | None, event_id: str) -> AuditEvent | None: ...

    def chain(self, org_id: str | None) -> ChainState | None:
        """The chain's state, or None if it has no event yet."""
        ...

    def chains(self) -> list[ChainState]:
        """Every chain this unit of work may see, by chain id."""
        ...

    def mark_archived(self, org_id: str | None, *, was: Anchor, now: Anchor) -> None:
        """Move the archive's mark from `was` to `now`; Conflict `archive_moved` otherwise."""
        ...

    def prune(self, org_id: str | None, *, through: Anchor) -> None:
        """Delete the events up to `through` (which must be archived); the chain then starts
        after it. Conflict `not_archived` if the archive does not reach that far."""
        ...


__all__ = ["GENESIS", "AuditQuery", "AuditRepository", "ChainState", "matches_filters"]
