"""The audit log in memory: the same chains as on SQL, chained as the commit applies."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.audit.ports import AuditQuery, ChainState, matches_filters
from tenantry.domain.audit import AuditDraft, AuditEvent, unchained_event
from tenantry.domain.audit_chain import Anchor, ChainHead, chain_of, chained
from tenantry.store.memory.intents import Intent
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.transaction import Transaction


class MemoryAudit:
    def __init__(self, transaction: Transaction, request_id: str | None) -> None:
        self._transaction = transaction
        self._request_id = request_id

    def append(self, draft: AuditDraft, *, at: datetime) -> None:
        event = unchained_event(draft, at=at, request_id=self._request_id)

        def apply(state: MemoryState) -> bool:
            # Commits are applied one at a time, under the committed state's lock.
            chain_id = chain_of(event.org_id)
            found = state.audit_chains.get(chain_id) or ChainState(
                event.org_id, ChainHead(chain_id)
            )
            [placed], head = chained(found.head, [event])
            state.audit_events[placed.event_id] = placed
            state.audit_chains[chain_id] = replace(found, head=head)
            return True

        self._transaction.write(Intent(apply))

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        found = self._transaction.read(
            lambda state: [e for e in state.audit_events.values() if _matches(e, query)]
        )
        found.sort(key=lambda event: event.seq or 0, reverse=query.newest_first)
        return found[: query.limit]

    def get(self, org_id: str | None, event_id: str) -> AuditEvent | None:
        event = self._transaction.read(lambda state: state.audit_events.get(event_id))
        return event if event is not None and event.org_id == org_id else None

    def chain(self, org_id: str | None) -> ChainState | None:
        return self._transaction.read(lambda state: state.audit_chains.get(chain_of(org_id)))

    def chains(self) -> list[ChainState]:
        return self._transaction.read(
            lambda state: [state.audit_chains[key] for key in sorted(state.audit_chains)]
        )

    def mark_archived(self, org_id: str | None, *, was: Anchor, now: Anchor) -> None:
        chain_id = chain_of(org_id)

        def apply(state: MemoryState) -> bool:
            found = state.audit_chains.get(chain_id)
            if found is None or found.archived != was:
                return False
            state.audit_chains[chain_id] = replace(found, archived=now)
            return True

        self._transaction.write(Intent(apply, "archive_moved"))

    def prune(self, org_id: str | None, *, through: Anchor) -> None:
        chain_id = chain_of(org_id)

        def apply(state: MemoryState) -> bool:
            found = state.audit_chains.get(chain_id)
            if found is None or found.archived.seq < through.seq:
                return False
            if found.start.seq > through.seq:
                return False
            state.audit_chains[chain_id] = replace(found, start=through)
            state.audit_events = {
                key: event
                for key, event in state.audit_events.items()
                if event.org_id != org_id or (event.seq or 0) > through.seq
            }
            return True

        self._transaction.write(Intent(apply, "not_archived"))


def _matches(event: AuditEvent, query: AuditQuery) -> bool:
    # `org_id` None is a filter too: the system chain, events of no organisation.
    seq = event.seq or 0
    return (
        event.org_id == query.org_id
        and (query.before_seq is None or seq < query.before_seq)
        and (query.after_seq is None or seq > query.after_seq)
        and matches_filters(event, query)
    )
