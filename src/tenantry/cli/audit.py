"""The audit log, as the operator reads and checks it: `audit list`, `audit verify`.

`audit archive` and `audit verify --from` (the archive) are in `cli/audit_archive.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from tenantry.audit import service as audit
from tenantry.audit.schemas import AuditEventOut, ChainReportOut
from tenantry.audit.service import AuditFilters, ChainReport
from tenantry.bootstrap import Tenantry
from tenantry.cli.access import AsJson
from tenantry.cli.command import commands, err, operator_tenantry, out, print_json, run, show_list
from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.audit_chain import SYSTEM_CHAIN
from tenantry.domain.paging import MAX_PAGE_SIZE
from tenantry.http.wire import Page as PageOut
from tenantry.organisations import service as orgs
from tenantry.unit_of_work import UnitOfWork

audit_app = commands("The audit log: list events, verify the hash chains, archive them.")

_ORG_HELP = f"The organisation: its slug or id (org_…); `{SYSTEM_CHAIN}` for the system chain."
OrgOpt = Annotated[str | None, typer.Option("--org", help=_ORG_HELP)]


@audit_app.command("list")
def audit_list(
    org: Annotated[str, typer.Option("--org", help=_ORG_HELP)],
    since: Annotated[
        datetime | None, typer.Option("--from", help="Inclusive, UTC unless a zone is given.")
    ] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="Exclusive.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's events.")] = None,
    event_type: Annotated[EventType | None, typer.Option("--type")] = None,
    resource_type: Annotated[str | None, typer.Option("--resource-type")] = None,
    resource_id: Annotated[str | None, typer.Option("--resource-id")] = None,
    outcome: Annotated[Outcome | None, typer.Option("--outcome")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="The next page, as the last one named it.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A chain's newest events, with the filters and cursor of GET .../audit-events."""
    filters = AuditFilters(
        since=_utc(since),
        until=_utc(until),
        actor_id=actor,
        event_type=event_type,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        action=action,
    )
    with operator_tenantry(as_json) as tenantry:
        org_id = _chain_org(tenantry, org)
        page = run(
            tenantry,
            lambda uow: audit.chain_page(
                _bound(uow, org_id), org_id, filters, limit=limit, cursor=cursor
            ),
        )
    listing = PageOut[AuditEventOut](
        items=[AuditEventOut.of(event) for event in page.items], next_cursor=page.next_cursor
    )
    show_list(
        listing,
        as_json=as_json,
        columns=("seq", "time", "type", "action", "outcome", "actor", "resource"),
        rows=[
            (
                str(e.seq),
                e.occurred_at.isoformat(timespec="seconds"),
                e.event_type.value,
                e.action,
                e.outcome.value,
                e.actor_id or "",
                f"{e.resource_type or ''} {e.resource_id or ''}".strip(),
            )
            for e in listing.items
        ],
    )
    if page.next_cursor is not None and not as_json:
        err.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    org: OrgOpt = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="Check an archive (file:///dir or s3://bucket/prefix) instead."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Recompute every stored event's hash and check each link of every chain (or one);
    exit status 1 names the first broken link."""
    if source is not None:
        from tenantry.cli import audit_archive

        audit_archive.verify_archive(source, org=org, as_json=as_json)
        return
    with operator_tenantry(as_json) as tenantry:
        reports = _verify(tenantry, org)
    _show_reports(reports, as_json=as_json)
    if not all(report.ok for report in reports):
        raise typer.Exit(code=1)


def _verify(tenantry: Tenantry, org: str | None) -> list[ChainReport]:
    if org is not None:
        org_id = _chain_org(tenantry, org)
        return [run(tenantry, lambda uow: audit.verify_chain(_bound(uow, org_id), org_id))]
    states = run(tenantry, lambda uow: uow.audit.chains())
    reports = []
    for state in states:  # one unit of work per chain: no read spans the whole log
        org_id = state.org_id
        reports.append(
            run(tenantry, lambda uow: audit.verify_chain(_bound(uow, org_id), org_id))  # noqa: B023
        )
    return reports


def _show_reports(reports: list[ChainReport], *, as_json: bool) -> None:
    if as_json:
        print_json({"chains": [ChainReportOut.of(r).model_dump(mode="json") for r in reports]})
        return
    for report in reports:
        if report.broken is None:
            out.print(f"ok {report.chain_id}: {report.checked} events, head seq {report.head_seq}")
            continue
        broken = report.broken
        err.print(
            f"[red]broken[/] {report.chain_id}: {broken.problem} at seq {broken.seq} "
            f"(event {broken.event_id}): {broken.detail}",
            soft_wrap=True,
        )
    if not reports:
        out.print("no audit events yet")


def _chain_org(tenantry: Tenantry, ref: str) -> str | None:
    """The organisation whose chain `--org` names (None: the system chain). An id is taken as
    it is, so that a deleted organisation's chain can still be read and verified."""
    if ref == SYSTEM_CHAIN:
        return None
    if ref.startswith("org_"):
        return ref
    return run(tenantry, lambda uow: orgs.resolve_organisation(uow, ref).id)


def _bound(uow: UnitOfWork, org_id: str | None) -> UnitOfWork:
    if org_id is not None:
        uow.bind(org_id=org_id)  # row-level security shows one organisation's events
    return uow


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
