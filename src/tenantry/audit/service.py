"""Reading the audit log: pages newest first, one event, and the check of a chain.

The HTTP routes ask for `audit:read` in the organisation; the CLI, run by the operator,
reads any chain. A chain is checked in pages of `seq` order from where it starts (after any
pruned events) to its head; the first link that does not hold is reported, named by its
event, and nothing after it is read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from tenantry.access.checks import denied, require_permission
from tenantry.audit.ports import AuditQuery, ChainState
from tenantry.domain.audit import ActorType, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import ChainBreak, chain_of, first_break
from tenantry.domain.errors import Invalid, NotFound
from tenantry.domain.model import Page
from tenantry.domain.paging import check_page_size
from tenantry.domain.principal import Principal
from tenantry.unit_of_work import UnitOfWork

AUDIT = "audit"  # the resource type of refusals to read the log
READ = "audit:read"
WALK_PAGE = 1000  # events read per query while a chain is checked or exported


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What a reader may filter by; every filter given must hold. `since` is inclusive and
    `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    event_type: EventType | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: Outcome | None = None
    action: str | None = None

    def query(self, org_id: str | None, **bounds: object) -> AuditQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise Invalid("`from` must be before `to`", code="invalid_time_range")
        return AuditQuery(
            org_id=org_id,
            since=self.since,
            until=self.until,
            actor_id=self.actor_id,
            event_type=self.event_type,
            resource_type=self.resource_type,
            resource_id=self.resource_id,
            outcome=self.outcome,
            action=self.action,
            **bounds,  # type: ignore[arg-type]
        )


def list_events(
    uow: UnitOfWork,
    principal: Principal,
    org_id: str,
    filters: AuditFilters,
    *,
    limit: int,
    cursor: str | None = None,
) -> Page[AuditEvent]:
    """Needs `audit:read`. Newest first; a cursor is a position in the chain, so pages stay
    the same while new events arrive (they are ahead of the first page)."""
    require_permission(uow, principal, org_id, READ, resource_type=AUDIT, resource_id=org_id)
    return chain_page(uow, org_id, filters, limit=limit, cursor=cursor)


def chain_page(
    uow: UnitOfWork,
    org_id: str | None,
    filters: AuditFilters,
    *,
    limit: int,
    cursor: str | None = None,
) -> Page[AuditEvent]:
    """A page of one chain (`org_id` None: the system chain), newest first, for whoever
    may read it: the routes check `audit:read` first, the operator reads any chain."""
    check_page_size(limit)
    before = decode_cursor(cursor, org_id) if cursor is not None else None
    query = filters.query(org_id, newest_first=True, before_seq=before, limit=limit + 1)
    found = uow.audit.find(query)
    items = found[:limit]
    more = len(found) > limit
    next_cursor = encode_cursor(items[-1].seq or 0, org_id) if more and items else None
    return Page(items=items, next_cursor=next_cursor)


def get_event(uow: UnitOfWork, principal: Principal, org_id: str, event_id: str) -> AuditEvent:
    """Needs `audit:read`. Another organisation's event is not found, as one that never was."""
    require_permission(uow, principal, org_id, READ, resource_type=AUDIT, resource_id=event_id)
    event = uow.audit.get(org_id, event_id)
    if event is None:  # a refusal like any other 404: on record in the caller's organisation
        scope = org_id if principal.actor_type is ActorType.SYSTEM else principal.org_id
        code = "audit_event_not_found"
        refusal = denied(principal, scope, READ, AUDIT, event_id[:40], code)
        raise NotFound("audit event not found", code=code, audit=refusal)
    return event


def authorize_reading(uow: UnitOfWork, principal: Principal, org_id: str) -> None:
    """Needs `audit:read`: the check before a chain is verified."""
    require_permission(uow, principal, org_id, READ, resource_type=AUDIT, resource_id=org_id)


def authorize_export(
    uow: UnitOfWork, principal: Principal, org_id: str, filters: AuditFilters
) -> None:
    """Needs `audit:read`, and filters that can match: the checks before an export's answer
    starts, since a refusal cannot follow its 200."""
    authorize_reading(uow, principal, org_id)
    filters.query(org_id)


def export_page(
    uow: UnitOfWork, org_id: str | None, filters: AuditFilters, *, after_seq: int
) -> list[AuditEvent]:
    """The next `WALK_PAGE` events after `after_seq`, oldest first: an export reads the
    chain forwards, one unit of work per page, so a year streams without one long read."""
    query = filters.query(org_id, after_seq=after_seq, limit=WALK_PAGE)
    return uow.audit.find(query)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What checking one chain found: how many events were read and the first break."""

    chain_id: str
    org_id: str | None
    checked: int
    head_seq: int
    start_seq: int
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(uow: UnitOfWork, org_id: str | None) -> ChainReport:
    """Check one chain as stored. A chain with no events is intact."""
    state = uow.audit.chain(org_id)
    if state is None:
        return _empty_report(uow, org_id)
    broken, checked = first_break(
        state.head.chain_id, _stored(uow, org_id), anchor=state.start, head=state.head
    )
    if broken is None:
        broken = _beyond_head(uow, state)
    return ChainReport(
        state.head.chain_id, org_id, checked, state.head.seq, state.start.seq, broken
    )


def verify_all(uow: UnitOfWork) -> list[ChainReport]:
    """Every chain the unit of work may see, by chain id (the operator's whole log)."""
    return [verify_chain(uow, state.org_id) for state in uow.audit.chains()]


def _stored(uow: UnitOfWork, org_id: str | None) -> Iterator[AuditEvent]:
    # The first page starts before seq 1 with rows of no seq first, so that an inserted row
    # without a place in the chain is reported too.
    page = uow.audit.find(AuditQuery(org_id=org_id, limit=WALK_PAGE))
    while page:
        yield from page
        last = page[-1].seq
        if last is None or len(page) < WALK_PAGE:
            return
        page = uow.audit.find(AuditQuery(org_id=org_id, after_seq=last, limit=WALK_PAGE))


def _beyond_head(uow: UnitOfWork, state: ChainState) -> ChainBreak | None:
    # Events past the head were added by hand (a writer moves the head as it inserts) —
    # unless they were committed after the head was read; the head read again tells.
    beyond = uow.audit.find(AuditQuery(org_id=state.org_id, after_seq=state.head.seq, limit=1))
    if not beyond:
        return None
    after = beyond[0]
    now = uow.audit.chain(state.org_id)
    if now is not None and (after.seq or 0) <= now.head.seq:
        return None
    return ChainBreak(
        state.head.chain_id,
        "head_mismatch",
        after.seq,
        after.event_id,
        f"an event follows the chain's head (seq {state.head.seq})",
    )


def _empty_report(uow: UnitOfWork, org_id: str | None) -> ChainReport:
    # No head: any stored event is one nobody chained.
    strays = uow.audit.find(AuditQuery(org_id=org_id, limit=1))
    chain_id = chain_of(org_id)
    broken = None
    if strays:
        broken = ChainBreak(
            chain_id, "head_mismatch", strays[0].seq, strays[0].event_id, "the chain has no head"
        )
    return ChainReport(chain_id, org_id, 0, 0, 0, broken)


def encode_cursor(seq: int, org_id: str | None) -> str:
    raw = json.dumps(["audit", chain_of(org_id), seq]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, org_id: str | None) -> int:
    """The seq a cursor of this chain's audit list holds, or `Invalid` `invalid_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError) as error:
        raise _invalid_cursor() from error
    match fields:
        case ["audit", str(chain), int(seq)] if _a_seq(seq) and chain == chain_of(org_id):
            return seq
    raise _invalid_cursor()


def _a_seq(value: int) -> bool:
    # JSON's `true` is an int to Python; no cursor holds one.
    return not isinstance(value, bool) and 0 < value < 2**63


def _invalid_cursor() -> Invalid:
    return Invalid("the cursor is not one this list handed out", code="invalid_cursor")
