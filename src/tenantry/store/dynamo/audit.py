"""The audit log on DynamoDB: a chain's events in its own partition, in seq order, under
its head item; chained at commit.

At commit the audit log's sealer reads each chain head the unit of work appends to, places
the events after it (`chained`), and adds their puts and the head's move to the transaction,
the move conditioned on the head being as read. Two commits to one chain: one moves the
head, the other's condition fails and it is sealed again from the new head (writes.py, a
bounded number of times). So seqs have no gaps and no two events share one, without a lock.

Pruning moves the chain's start in the transaction (the events before it are then never
read) and deletes the pruned events after the commit, in batches: a prune may cover more
events than one transaction holds, and what a failed deletion leaves is already invisible
and is deleted by the next prune.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from tenantry.audit.ports import AuditQuery, ChainState, matches_filters
from tenantry.domain.audit import AuditDraft, AuditEvent, unchained_event
from tenantry.domain.audit_chain import (
    GENESIS,
    Anchor,
    ChainHead,
    canonical_fields,
    chain_of,
    chained,
    event_from_fields,
)
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import WriteList, Writes

_EVENTS = keys.AUDIT_EVENT_PREFIX
# The event's fields an item holds as they are (its details are JSON text).
_FIELDS = tuple(field.name for field in fields(AuditEvent) if field.name != "details")
_LAST_SEQ = 10**20 - 1  # the largest seq `keys.seq_text` writes


class DynamoAudit:
    def __init__(self, reads: Reads, writes: Writes, request_id: str | None) -> None:
        self._reads = reads
        self._writes = writes
        self._request_id = request_id

    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        event = unchained_event(draft, at=at, request_id=self._request_id)
        self._writes.seal(self._seal, event)

    def _seal(self, sealed: WriteList, events: list[AuditEvent]) -> None:
        """The events placed after their chains' heads as they are now."""
        by_chain: dict[str, list[AuditEvent]] = defaultdict(list)
        for event in events:
            by_chain[chain_of(event.org_id)].append(event)
        for chain_id, pending in by_chain.items():
            _chain_writes(sealed, self._reads.get(keys.audit_head(chain_id)), chain_id, pending)

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        state = self.chain(query.org_id)
        if state is None:
            return []
        chain_id = chain_of(query.org_id)
        low = max(state.start.seq, query.after_seq or 0) + 1
        high = min(_LAST_SEQ, (query.before_seq or _LAST_SEQ + 1) - 1)
        if low > high:
            return []
        by, partition = _list_for(chain_id, query)
        index = keys.AUDIT_LISTS.get(by or "")
        prefix = "" if index is not None else _EVENTS
        sort_key = f"{index}SK" if index is not None else "SK"
        found = self._reads.query(
            f"{index or ''}PK = :pk AND {sort_key} BETWEEN :low AND :high",
            {
                "pk": partition,
                "low": prefix + keys.seq_text(low),
                "high": prefix + keys.seq_text(high),
            },
            index=index,
            keep=lambda item: matches_filters(_event(item), query),
            stop=_past_time_range(query, state.head.backstep),
            wanted=query.limit,
            newest_first=query.newest_first,
        )
        return [_event(item) for item in found]

    def get(self, org_id: str | None, event_id: str) -> AuditEvent | None:
        # By its id through GSI5; an event is never changed once written.
        found = self._reads.query(
            "GSI5PK = :pk AND GSI5SK = :chain",
            {"pk": keys.audit_event_by_id(event_id), "chain": chain_of(org_id)},
            index="GSI5",
            wanted=1,
        )
        event = _event(found[0]) if found else None
        state = self.chain(org_id) if event is not None else None
        if event is None or state is None or (event.seq or 0) <= state.start.seq:
            return None  # pruned: gone as far as the log is concerned
        return event

    def chain(self, org_id: str | None) -> ChainState | None:
        found = self._reads.get(keys.audit_head(chain_of(org_id)))
        return _state(found) if found is not None else None

    def chains(self) -> list[ChainState]:
        listed = self._reads.query("PK = :pk", {"pk": keys.AUDIT_CHAINS})
        heads = self._reads.get_many([keys.audit_head(item["SK"]) for item in listed])
        return sorted((_state(item) for item in heads), key=lambda state: state.head.chain_id)

    def mark_archived(self, org_id: str | None, *, was: Anchor, now: Anchor) -> None:
        self._writes.update(
            keys.audit_head(chain_of(org_id)),
            {"archived_seq": now.seq, "archived_hash": now.hash},
            expect={"archived_seq": was.seq, "archived_hash": was.hash},
            code="archive_moved",
        )

    def prune(self, org_id: str | None, *, through: Anchor) -> None:
        chain_id = chain_of(org_id)
        head = keys.audit_head(chain_id)
        state = self.chain(org_id)
        if state is None or not (state.start.seq <= through.seq <= state.archived.seq):
            self._writes.refuse(head, code="not_archived")
            return
        # As read: another run that moved the mark or the start meanwhile refuses this one.
        as_read = {
            "archived_seq": state.archived.seq,
            "archived_hash": state.archived.hash,
            "start_seq": state.start.seq,
        }
        self._writes.update(
            head,
            {"start_seq": through.seq, "start_hash": through.hash},
            expect=as_read,
            code="not_archived",
        )
        self._writes.after_commit(lambda: self._delete_through(chain_id, through.seq))

    def _delete_through(self, chain_id: str, seq: int) -> None:
        # From the chain's first seq on: what an earlier deletion left goes too.
        stored = self._reads.query(
            "PK = :pk AND SK BETWEEN :low AND :high",
            {
                "pk": keys.audit_head(chain_id)["PK"],
                "low": _EVENTS + keys.seq_text(1),
                "high": _EVENTS + keys.seq_text(seq),
            },
        )
        self._writes.delete_now([{"PK": item["PK"], "SK": item["SK"]} for item in stored])


def _chain_writes(
    sealed: WriteList, stored: dict[str, Any] | None, chain_id: str, events: list[AuditEvent]
) -> None:
    """The puts of `events` after the head as stored, and the head's move."""
    org_id = events[0].org_id
    state = _state(stored) if stored is not None else ChainState(org_id, ChainHead(chain_id))
    linked, moved = chained(state.head, events)
    for event in linked:
        sealed.put(
            keys.audit_event(chain_id, event.seq or 0),
            event_attributes(event, chain_id),
            code="conflict",
            retry=True,
        )
    head = _head_attributes(moved)
    if stored is None:
        sealed.put(
            keys.audit_head(chain_id),
            {**head, **_unarchived(org_id)},
            code="conflict",
            retry=True,
        )
        entry = keys.audit_chain_entry(chain_id)
        sealed.put(entry, {"chain_id": chain_id}, code="conflict", retry=True)
    else:
        sealed.update(
            keys.audit_head(chain_id),
            head,
            expect={"seq": state.head.seq, "hash": state.head.hash},
            code="conflict",
            retry=True,
        )


def _list_for(chain_id: str, query: AuditQuery) -> tuple[str | None, str]:
    """The narrowest list that holds every event the query may find: the chain's events of
    one request, one resource, one actor or one type (an index), else the chain itself."""
    if query.request_id is not None:
        return "REQUEST", keys.audit_list(chain_id, "REQUEST", query.request_id)
    if query.resource_type is not None and query.resource_id is not None:
        resource = f"{query.resource_type}#{query.resource_id}"
        return "RESOURCE", keys.audit_list(chain_id, "RESOURCE", resource)
    if query.actor_id is not None:
        return "ACTOR", keys.audit_list(chain_id, "ACTOR", query.actor_id)
    if query.event_type is not None:
        return "TYPE", keys.audit_list(chain_id, "TYPE", query.event_type.value)
    return None, keys.audit_head(chain_id)["PK"]


def _past_time_range(query: AuditQuery, backstep: timedelta) -> Callable[[dict[str, Any]], bool]:
    """Whether an item read lies past every event of the query's time range in the order of
    reading. No event's time lies more than `backstep` before an earlier one's, so reading
    newest first, every event after one stamped before `since - backstep` is before `since`;
    reading oldest first, every event after one stamped at `until + backstep` is after it."""
    if query.newest_first and query.since is not None:
        floor = query.since - backstep
        return lambda item: codec.required_moment(item["occurred_at"]) < floor
    if not query.newest_first and query.until is not None:
        ceiling = query.until + backstep
        return lambda item: codec.required_moment(item["occurred_at"]) >= ceiling
    return lambda _item: False


def event_attributes(event: AuditEvent, chain_id: str) -> dict[str, Any]:
    """The event's item: its fields as they are hashed, the details as JSON text (exactly
    the values that were hashed, whatever their types), and its place in the lists."""
    resource = (
        f"{event.resource_type}#{event.resource_id}"
        if event.resource_type is not None and event.resource_id is not None
        else None
    )
    lists = {
        "REQUEST": event.request_id,
        "RESOURCE": resource,
        "ACTOR": event.actor_id,
        "TYPE": event.event_type.value,
    }
    return {
        "entity": "audit_event",
        **canonical_fields(event),
        "details": json.dumps(event.details),
        "hash": event.hash,
        **keys.audit_event_indexes(chain_id, event.seq or 0, event.event_id, lists),
    }


def _event(item: dict[str, Any]) -> AuditEvent:
    # An item leaves out what is None (codec.encode): such a field reads back as None.
    stored = {name: item.get(name) for name in _FIELDS}
    return event_from_fields({**stored, "details": json.loads(item["details"])})


def _head_attributes(head: ChainHead) -> dict[str, Any]:
    return {
        "entity": "audit_head",
        "chain_id": head.chain_id,
        "seq": head.seq,
        "hash": head.hash,
        "latest_at": head.latest_at,
        "backstep_us": head.backstep // timedelta(microseconds=1),
    }


def _unarchived(org_id: str | None) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "archived_seq": 0,
        "archived_hash": GENESIS,
        "start_seq": 0,
        "start_hash": GENESIS,
    }


def _state(item: dict[str, Any]) -> ChainState:
    head = ChainHead(
        item["chain_id"],
        item["seq"],
        item["hash"],
        codec.moment(item.get("latest_at")),
        timedelta(microseconds=item.get("backstep_us", 0)),
    )
    return ChainState(
        org_id=item.get("org_id"),
        head=head,
        archived=Anchor(item["archived_seq"], item["archived_hash"]),
        start=Anchor(item["start_seq"], item["start_hash"]),
    )
