"""The audit log's hash chains: one per organisation and one for events without one.

Each event carries `seq` (1, 2, 3, ... without gaps in its chain), `prev_hash` (the hash of
the event before it, 64 zeros for the first) and `hash`, the SHA-256 of its canonical form:
the event's fields as one JSON object, serialised by RFC 8785 (JSON Canonicalization Scheme:
keys sorted, no whitespace, UTF-8, numbers in their shortest form). docs/audit.md gives the
bytes of a test vector, so that anyone can recompute a hash in another language.

Pure: no I/O. The stores call `chained` while they hold their chain's head; verifiers call
`first_break` over the events they read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785

from tenantry.domain.audit import ActorType, AuditEvent, EventType, Outcome

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"  # the chain of events that belong to no organisation


def chain_of(org_id: str | None) -> str:
    return org_id if org_id is not None else SYSTEM_CHAIN


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain ends: its last `seq` and `hash`; the latest time any of its events
    carries; and `backstep`, the furthest any event's time lies before an earlier event's
    (zero while the clocks that stamp the chain never run backwards)."""

    chain_id: str
    seq: int = 0
    hash: str = GENESIS
    latest_at: datetime | None = None
    backstep: timedelta = timedelta(0)


def timestamp(moment: datetime) -> str:
    """An event's time as it is hashed and shown: UTC, microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_fields(event: AuditEvent) -> dict[str, Any]:
    """The object whose canonical serialisation is hashed: every field of the event."""
    return {
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_type": event.actor_type.value,
        "details": event.details,
        "event_id": event.event_id,
        "event_type": event.event_type.value,
        "occurred_at": timestamp(event.occurred_at),
        "org_id": event.org_id,
        "outcome": event.outcome.value,
        "prev_hash": event.prev_hash,
        "reason": event.reason,
        "request_id": event.request_id,
        "resource_id": event.resource_id,
        "resource_type": event.resource_type,
        "seq": event.seq,
    }


def event_from_fields(fields: Mapping[str, Any]) -> AuditEvent:
    """The event that `canonical_fields` (with `hash`) shows, read back: an export's line,
    an archive's, the API's JSON."""
    return AuditEvent(
        event_id=fields["event_id"],
        org_id=fields["org_id"],
        occurred_at=datetime.fromisoformat(fields["occurred_at"]),
        event_type=EventType(fields["event_type"]),
        action=fields["action"],
        outcome=Outcome(fields["outcome"]),
        actor_id=fields["actor_id"],
        actor_type=ActorType(fields["actor_type"]),
        resource_type=fields["resource_type"],
        resource_id=fields["resource_id"],
        reason=fields["reason"],
        details=fields["details"],
        request_id=fields["request_id"],
        seq=fields["seq"],
        prev_hash=fields["prev_hash"],
        hash=fields["hash"],
    )


def canonical_bytes(event: AuditEvent) -> bytes:
    return rfc8785.dumps(canonical_fields(event))


def hash_of(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def chained(head: ChainHead, events: Iterable[AuditEvent]) -> tuple[list[AuditEvent], ChainHead]:
    """`events` appended to the chain that ends at `head`, and the chain's new head.

    Each event keeps the time it was stamped with, even one before its predecessor's (two
    nodes whose clocks disagree, a clock stepped back): the head remembers how far back any
    event went, and the time-range queries widen their seq bounds by that much.
    """
    linked: list[AuditEvent] = []
    seq, previous = head.seq, head.hash
    latest_at, backstep = head.latest_at, head.backstep
    for event in events:
        seq += 1
        placed = replace(event, seq=seq, prev_hash=previous)
        placed = replace(placed, hash=hash_of(placed))
        linked.append(placed)
        previous = placed.hash or GENESIS
        if latest_at is None or event.occurred_at > latest_at:
            latest_at = event.occurred_at
        backstep = max(backstep, latest_at - event.occurred_at)
    return linked, ChainHead(head.chain_id, seq, previous, latest_at, backstep)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first link that does not hold, and what is wrong with it.

    `problem` is a stable code: `hash_mismatch` (the event was edited), `seq_gap` (events are
    missing before this one), `prev_hash_mismatch` (an event before it was replaced, or rows
    were reordered), `unchained` (a row with no seq), `head_mismatch` (the chain ends before or
    after where its head says: rows were cut off the end, or added there), `anchor_mismatch`
    (the first event left after pruning does not follow the archived one).
    """

    chain_id: str
    problem: str
    seq: int | None
    event_id: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a stored chain starts: after `seq` with `hash` (0 and GENESIS unless pruned)."""

    seq: int = 0
    hash: str = GENESIS


NO_ANCHOR = Anchor()


def first_break(
    chain_id: str, events: Iterable[AuditEvent], *, anchor: Anchor, head: ChainHead | None
) -> tuple[ChainBreak | None, int]:
    """The first broken link of a chain read in `seq` order, and how many events were read.

    `head` None means the chain's end is not known (an archive checked on its own).
    """
    walk = _Walk(chain_id, anchor)
    for event in events:
        broken = walk.step(event)
        if broken is not None:
            return broken, walk.count
    if head is not None and (walk.seq, walk.hash) != (head.seq, head.hash):
        return ChainBreak(
            chain_id,
            "head_mismatch",
            walk.seq,
            walk.last_event_id,
            f"the chain ends at seq {walk.seq} but its head says {head.seq}",
        ), walk.count
    return None, walk.count


class _Walk:
    def __init__(self, chain_id: str, anchor: Anchor) -> None:
        self.chain_id = chain_id
        self.seq, self.hash = anchor.seq, anchor.hash
        self.count = 0
        self.last_event_id: str | None = None

    def step(self, event: AuditEvent) -> ChainBreak | None:
        self.count += 1
        problem = self._problem(event)
        if problem is not None:
            code, detail = problem
            return ChainBreak(self.chain_id, code, event.seq, event.event_id, detail)
        self.seq, self.hash, self.last_event_id = event.seq or 0, event.hash or "", event.event_id
        return None

    def _problem(self, event: AuditEvent) -> tuple[str, str] | None:
        if event.seq is None or event.hash is None:
            return "unchained", "the event has no place in the chain"
        if event.seq != self.seq + 1:
            return "seq_gap", f"seq {event.seq} follows seq {self.seq}"
        if hash_of(event) != event.hash:
            return "hash_mismatch", "the event's fields do not match its hash"
        if event.prev_hash != self.hash:
            if self.count == 1 and self.seq > 0:
                return "anchor_mismatch", "the first stored event does not follow the archive"
            return "prev_hash_mismatch", f"prev_hash is not the hash of seq {self.seq}"
        return None


def in_seq_order(events: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
    """Events sorted for a walk; rows without a seq first, so that they are reported."""
    return iter(sorted(events, key=lambda event: (event.seq is not None, event.seq or 0)))
