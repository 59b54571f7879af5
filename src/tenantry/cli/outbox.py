"""The email outbox, as the operator watches and drives it: `outbox status`, `outbox retry`,
`outbox run` (docs/deployment.md, "Email delivery and the outbox"). Progress and running counts
go to standard error; `--json` prints one document on standard output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel

from tenantry.bootstrap import Tenantry
from tenantry.cli.access import AsJson
from tenantry.cli.command import (
    commands,
    err,
    operator_tenantry,
    out,
    reported,
    run,
    show_list,
    stopped_by_signals,
    store_errors_reported,
)
from tenantry.flows.dispatch import DispatchReport, RetryReport, retry_failed
from tenantry.flows.dispatcher import OutboxDispatcher
from tenantry.outbox.ports import OutboxStats

T = TypeVar("T")

outbox_app = commands("The email outbox: what waits, what was given up on; retry; deliver.")


class OutboxStatusOut(BaseModel):
    pending: int
    due: int
    dead: int
    sent: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None

    @classmethod
    def of(cls, stats: OutboxStats, now: datetime) -> OutboxStatusOut:
        oldest = stats.oldest_pending_at
        return cls(
            pending=stats.pending,
            due=stats.due,
            dead=stats.dead,
            sent=stats.sent,
            oldest_pending_at=oldest,
            oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
        )


class LeftOut(BaseModel):
    id: str
    reason: str


class RetryOut(BaseModel):
    made_due: int
    revived: int
    left: list[LeftOut]

    @classmethod
    def of(cls, report: RetryReport) -> RetryOut:
        left = [LeftOut(id=entry_id, reason=why) for entry_id, why in report.left.items()]
        return cls(made_due=report.made_due, revived=report.revived, left=left)


@outbox_app.command("status")
def outbox_status(as_json: AsJson = False) -> None:
    """Emails by status: pending (and of those due now), dead, sent; and the oldest pending."""
    with operator_tenantry(as_json) as tenantry:
        now = tenantry.clock.now()
        stats = run(tenantry, lambda uow: uow.outbox.stats(now))
    status = OutboxStatusOut.of(stats, now)
    counts = [
        ("pending", status.pending),
        ("due now", status.due),
        ("dead", status.dead),
        ("sent", status.sent),
    ]
    rows = [(name, str(count)) for name, count in counts]
    show_list(status, as_json=as_json, columns=("status", "emails"), rows=rows)
    if not as_json and status.oldest_pending_at is not None:
        age = int(status.oldest_pending_age_seconds or 0)
        out.print(f"oldest pending: {status.oldest_pending_at.isoformat()} ({age} s ago)")


DeadOpt = Annotated[
    bool, typer.Option("--dead", help="Dead emails too (given up on after the last attempt).")
]
IdsOpt = Annotated[
    list[str] | None,
    typer.Option("--id", help="Only this email (msg_…); repeat for more.", show_default=False),
]


@outbox_app.command("retry")
def outbox_retry(dead: DeadOpt = False, ids: IdsOpt = None, as_json: AsJson = False) -> None:
    """Make the emails that are backing off after a failure due now, with no attempt counted
    (their last error is kept); with --dead the dead ones too. An email due within the five
    minutes of a dispatcher's lease is left alone: it may be being sent."""
    so_far = [RetryReport()]  # the running total after each batch
    made_due = _LiveCount("made due", lambda: so_far[-1].made_due)
    with operator_tenantry(as_json) as tenantry, _shown(made_due):
        report = _reported(
            lambda: retry_failed(
                tenantry.store.unit_of_work,
                clock=tenantry.clock,
                dead=dead,
                ids=ids or (),
                progress=so_far.append,
            )
        )
    listing = RetryOut.of(report)
    if not as_json:
        revived = f" ({report.revived} of them dead)" if report.revived else ""
        out.print(f"{_emails(report.made_due)} made due now{revived}")
        if not listing.left:
            return
    rows = [(left.id, left.reason) for left in listing.left]
    show_list(listing, as_json=as_json, columns=("left alone", "why"), rows=rows)


OnceOpt = Annotated[bool, typer.Option("--once", help="One pass over what is due, then exit.")]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="Emails claimed at a time.")]
PollOpt = Annotated[
    float | None,
    typer.Option(
        "--poll", min=0.01, help="Seconds between looks; default TENANTRY_OUTBOX_POLL_SECONDS."
    ),
]


@outbox_app.command("run")
def outbox_run(once: OnceOpt = False, batch: BatchOpt = 20, poll: PollOpt = None) -> None:
    """Send due emails until SIGINT or SIGTERM, which stop it after the current message (or
    one pass with --once): a delivery worker apart from `tenantry serve`."""
    with operator_tenantry(as_json=False) as tenantry:
        dispatcher = _dispatcher(tenantry, batch=batch, poll=poll)
        sent = _LiveCount("sent", lambda: dispatcher.totals.sent)

        def stop_soon() -> None:
            # Asked first, then said: whoever reads the line may rely on it being so.
            dispatcher.stop_soon()
            err.print("stopping: the message being sent is finished first")

        with stopped_by_signals(stop_soon), _shown(sent):
            if once:
                _reported(dispatcher.drain)
            else:
                _until_stopped(dispatcher)
    out.print(_summary(dispatcher.totals, stopped=not once))


def _dispatcher(tenantry: Tenantry, *, batch: int, poll: float | None) -> OutboxDispatcher:
    settings = tenantry.settings
    return OutboxDispatcher(
        tenantry.store.unit_of_work,
        tenantry.mailer,
        clock=tenantry.clock,
        max_attempts=settings.outbox_max_attempts,
        poll_seconds=poll or settings.outbox_poll_seconds,
        batch_size=batch,
    )


def _until_stopped(dispatcher: OutboxDispatcher) -> None:
    # The dispatcher's thread outlives a store outage (it logs and polls again); this one
    # waits for a signal, then for the message being sent.
    dispatcher.start()
    try:
        while not dispatcher.stop_requested(timeout=1.0):
            continue
    finally:
        dispatcher.stop(timeout=None)


def _summary(totals: DispatchReport, *, stopped: bool) -> str:
    done = f"sent {totals.sent}, failed {totals.failed}, dead {totals.dead}"
    return f"stopped: {done}" if stopped else done


def _emails(count: int) -> str:
    return f"{count} email" if count == 1 else f"{count} emails"


class _LiveCount:
    """`label: n`, with n read again at each refresh of the status line."""

    def __init__(self, label: str, read: Callable[[], int]) -> None:
        self._label = label
        self._read = read

    def __rich__(self) -> str:
        return f"{self._label}: {self._read()}"


@contextmanager
def _shown(count: _LiveCount) -> Iterator[None]:
    """The count on standard error while the work goes on, on a terminal only: a log or a
    pipe gets the summary alone."""
    if not err.is_terminal:
        yield
        return
    with err.status(count):
        yield


def _reported(action: Callable[[], T]) -> T:
    with store_errors_reported():
        return reported(action)
