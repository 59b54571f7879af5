"""`/v1/organisations/{org_id}/audit-events`: the log, one event, an export, the chain check."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from tenantry.audit import service as audit
from tenantry.audit.schemas import AuditEventOut, ChainReportOut, event_json
from tenantry.audit.service import AuditFilters
from tenantry.domain.audit import AuditEvent, EventType, Outcome
from tenantry.domain.paging import DEFAULT_PAGE_SIZE
from tenantry.http.deps import Run
from tenantry.http.openapi import problems
from tenantry.http.wire import Cursor, Limit, OrgId, Page
from tenantry.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/organisations", tags=["audit"])
_READ = problems(401, 403, 404, 422)
_COLUMNS = list(AuditEventOut.model_fields)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(what: str, length: int) -> object:
    return Query(min_length=1, max_length=length, description=what)


def audit_filters(
    since: Annotated[
        AwareDatetime | None, Query(alias="from", description="Inclusive; with a time zone.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(alias="to", description="Exclusive; with a time zone.")
    ] = None,
    actor_id: Annotated[str | None, _text("Only this actor's events (`usr_…`).", 40)] = None,
    event_type: Annotated[EventType | None, Query(description="Only events of this type.")] = None,
    resource_type: Annotated[str | None, _text("Only events about this kind of thing.", 40)] = None,
    resource_id: Annotated[str | None, _text("Only events about this id.", 100)] = None,
    outcome: Annotated[Outcome | None, Query(description="Only this outcome.")] = None,
    action: Annotated[str | None, _text("Only this action (`team.create`, …).", 100)] = None,
) -> AuditFilters:
    return AuditFilters(
        since=since,
        until=until,
        actor_id=actor_id,
        event_type=event_type,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        action=action,
    )


Filters = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("/{org_id}/audit-events", summary="The organisation's audit log", responses=_READ)
def list_audit_events(
    org_id: OrgId,
    run: Run,
    filters: Filters,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """Needs `audit:read`. Newest first; every filter given must hold. A cursor is a place in
    the chain: pages stay the same while new events arrive."""
    page = run(
        lambda uow: audit.list_events(uow, run.caller, org_id, filters, limit=limit, cursor=cursor)
    )
    return Page(items=[AuditEventOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{org_id}/audit-events/export",
    summary="Every matching event, streamed, oldest first",
    responses={
        200: {
            "description": "JSON Lines (one event per line) or CSV with a header row.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
        **_READ,
    },
)
def export_audit_events(
    org_id: OrgId,
    run: Run,
    filters: Filters,
    format: Annotated[
        Literal["jsonl", "csv"], Query(description="JSON Lines (default) or CSV.")
    ] = "jsonl",
) -> StreamingResponse:
    """Needs `audit:read`. The same filters as the list, without paging: the answer streams
    in the chain's order, read a thousand events at a time. JSON Lines keeps every field as
    hashed; in CSV, `details` is JSON and a cell that a spreadsheet would take for a formula
    starts with `'`."""
    run(lambda uow: audit.authorize_export(uow, run.caller, org_id, filters))
    events = _events(run, org_id, filters)
    if format == "csv":
        return StreamingResponse(_csv_lines(events), media_type="text/csv")
    lines = (json.dumps(event_json(event), ensure_ascii=False) + "\n" for event in events)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get(
    "/{org_id}/audit-events/verify",
    summary="Check the organisation's hash chain",
    responses=_READ,
)
def verify_audit_chain(org_id: OrgId, run: Run) -> ChainReportOut:
    """Needs `audit:read`. Recomputes every stored event's hash and checks each link; the
    first that does not hold is named by its event."""

    def use_case(uow: UnitOfWork) -> audit.ChainReport:
        audit.authorize_reading(uow, run.caller, org_id)
        return audit.verify_chain(uow, org_id)

    return ChainReportOut.of(run(use_case))


@router.get(
    "/{org_id}/audit-events/{event_id}",
    summary="One audit event, with its chain fields",
    responses=_READ,
)
def get_audit_event(
    org_id: OrgId,
    event_id: Annotated[str, Path(max_length=40, description="The event's id (`evt_…`).")],
    run: Run,
) -> AuditEventOut:
    """Needs `audit:read`."""
    return AuditEventOut.of(run(lambda uow: audit.get_event(uow, run.caller, org_id, event_id)))


def _events(run: Run, org_id: str, filters: AuditFilters) -> Iterator[AuditEvent]:
    # One unit of work per page, each checking the token again: an export outlives no logout.
    after = 0
    while True:
        page = run(
            lambda uow: _checked_page(uow, run, org_id, filters, after)  # noqa: B023
        )
        yield from page
        if len(page) < audit.WALK_PAGE:
            return
        after = page[-1].seq or after


def _checked_page(
    uow: UnitOfWork, run: Run, org_id: str, filters: AuditFilters, after: int
) -> list[AuditEvent]:
    audit.authorize_reading(uow, run.caller, org_id)
    return audit.export_page(uow, org_id, filters, after_seq=after)


def _csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_COLUMNS)
    for event in events:
        writer.writerow([_cell(value) for value in event_json(event).values()])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
