"""`tenantry audit archive` and `tenantry audit verify --from`: the audit archive, as the
operator writes and checks it (docs/audit-archive.md). Progress goes to standard error;
`--json` prints one document on standard output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import Progress, TaskID

from tenantry.archive import open_archive
from tenantry.archive.ports import Archive
from tenantry.audit import archive as archiving
from tenantry.audit.archive import ArchiveReport, ArchiveRun, Pruned
from tenantry.bootstrap import Tenantry
from tenantry.cli.access import AsJson
from tenantry.cli.command import err, operator_tenantry, out, print_json, reported
from tenantry.cli.command import store_errors_reported as store_errors

T = TypeVar("T")

ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="file:///abs/dir or s3://bucket/prefix; default TENANTRY_AUDIT_ARCHIVE_URL, "
        "else ./tenantry-archive.",
    ),
]
UntilOpt = Annotated[
    datetime | None,
    typer.Option(
        "--until",
        formats=["%Y-%m-%d"],
        help="Archive the UTC days before this date (default: today); at most today.",
    ),
]
PruneOpt = Annotated[
    int | None,
    typer.Option(
        "--prune-after-days",
        min=1,
        help="Then, once the archive and the database verify, delete archived events of the "
        "days before today less N from the database.",
    ),
]


def audit_archive(
    to: ToOpt = None,
    until: UntilOpt = None,
    prune_after_days: PruneOpt = None,
    as_json: AsJson = False,
) -> None:
    """Write every chain's events of the days that are over to the archive, with one signed
    digest; exit status 1 if a chain breaks (it is archived up to the break)."""
    with operator_tenantry(as_json) as tenantry:
        archive = _opened(tenantry, to or tenantry.settings.resolved_audit_archive_url)
        day = until.date() if until is not None else None
        with _progress_bars() as bars:
            done = _reported(
                lambda: archiving.archive_audit(tenantry, archive, until=day, progress=bars)
            )
        pruned = _pruned(tenantry, archive, prune_after_days)
    _show_run(done, pruned, as_json=as_json)
    if done.broken:
        raise typer.Exit(code=1)


def _pruned(tenantry: Tenantry, archive: Archive, after_days: int | None) -> list[Pruned]:
    if after_days is None:
        return []
    return _reported(lambda: archiving.prune_archived(tenantry, archive, after_days=after_days))


def verify_archive(source: str, *, org: str | None, as_json: bool) -> None:
    """`tenantry audit verify --from URL [--org ORG|system]`: exit status 1 names the first
    break."""
    with operator_tenantry(as_json) as tenantry:
        archive = _opened(tenantry, source)
        report = _reported(lambda: archiving.verify_archive(tenantry, archive, chain_id=org))
    _show_report(report, as_json=as_json)
    if not report.ok:
        raise typer.Exit(code=1)


def _opened(tenantry: Tenantry, url: str) -> Archive:
    return _reported(lambda: open_archive(url, tenantry.settings))


def _reported(action: Callable[[], T]) -> T:
    with store_errors():
        return reported(action)


class _Bars:
    """Rich progress on standard error: the chains, and the events of the current one."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._chains: TaskID | None = None
        self._events: TaskID | None = None

    def start(self, chains: int) -> None:
        self._chains = self._progress.add_task("chains", total=chains)

    def chain(self, chain_id: str, pending: int) -> None:
        if self._events is not None:
            self._progress.remove_task(self._events)
            self._advance(self._chains, 1)
        self._events = self._progress.add_task(chain_id, total=pending or None)

    def archived(self, events: int) -> None:
        self._advance(self._events, events)

    def _advance(self, task: TaskID | None, by: int) -> None:
        if task is not None:
            self._progress.advance(task, by)


@contextmanager
def _progress_bars() -> Iterator[_Bars]:
    # Only on a terminal: a log or a pipe gets the summary alone.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        yield _Bars(progress)


def _show_run(done: ArchiveRun, pruned: list[Pruned], *, as_json: bool) -> None:
    if as_json:
        print_json(_run_document(done, pruned))
        return
    if done.recovered is not None:
        out.print(f"digest {done.recovered} was written before; its marks are now advanced")
    if done.digest is None:
        out.print(f"nothing new to archive before {done.until} in {done.archive}")
    else:
        events = sum(entry.events for entry in done.objects)
        out.print(
            f"archived {events} events in {len(done.objects)} objects ({done.written} new) "
            f"to {escape(done.archive)}, digest {done.digest}",
            soft_wrap=True,
        )
    for broken in done.broken:
        err.print(
            f"[red]broken[/] {broken.chain_id}: {broken.problem} at seq {broken.seq} "
            f"(event {broken.event_id}): archived up to the event before",
            soft_wrap=True,
        )
    for chain in pruned:
        out.print(f"pruned {chain.chain_id} through seq {chain.through.seq}")


def _run_document(done: ArchiveRun, pruned: list[Pruned]) -> dict[str, Any]:
    return {
        "archive": done.archive,
        "until": done.until.isoformat(),
        "digest": done.digest,
        "recovered_digest": done.recovered,
        "objects": [asdict(entry) for entry in done.objects],
        "written": done.written,
        "events": sum(entry.events for entry in done.objects),
        "broken": [asdict(broken) for broken in done.broken],
        "pruned": [
            {
                "chain_id": chain.chain_id,
                "org_id": chain.org_id,
                "through_seq": chain.through.seq,
                "before_day": chain.before_day.isoformat(),
            }
            for chain in pruned
        ],
    }


def _show_report(report: ArchiveReport, *, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "archive": report.archive,
                "digests": report.digests,
                "objects": report.objects,
                "events": report.events,
                "first_break": asdict(report.broken) if report.broken else None,
            }
        )
        return
    if report.broken is None:
        out.print(
            f"ok {escape(report.archive)}: {report.digests} digests, {report.objects} objects, "
            f"{report.events} events; the database's marks match",
            soft_wrap=True,
        )
        return
    err.print(f"[red]broken[/] {escape(_where(report))}", soft_wrap=True)


def _where(report: ArchiveReport) -> str:
    broken = report.broken
    assert broken is not None
    places = [
        f"{name} {value}"
        for name, value in (
            ("digest", broken.digest),
            ("object", broken.key),
            ("chain", broken.chain_id),
            ("seq", broken.seq),
            ("event", broken.event_id),
        )
        if value is not None
    ]
    return f"{broken.problem} at {', '.join(places) or report.archive}: {broken.detail}"
