from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tenantry.domain.model import EmailMessage, OutboxStatus
from tenantry.mail.dispatcher import OutboxDispatcher
from tenantry.mail.smtp import SmtpMailer
from tenantry.mail.templates import verification_email
from tenantry.services.outbox import DispatchReport, backoff, dispatch_due
from tenantry.store.sql.migrate import migrate
from tenantry.store.sql.store import SqlStore
from tenantry.store.sql.tables import outbox
from tests.harness import StoreTarget, unique_email
from tests.org_builders import privileged
from tests.smtp_server import SmtpServer, unused_port

pytestmark = pytest.mark.smtp

SENDER = "tenantry <no-reply@tenantry.test>"
LINK = "https://app.example/verify-email?token=abc"


class SteppingClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass(frozen=True)
class OutboxRow:
    recipient: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'tenantry.db'}"
    migrate(url)
    store = SqlStore(url)
    yield store
    store.dispose()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))


def enqueue(store: SqlStore, clock: SteppingClock, *recipients: str) -> None:
    with store.unit_of_work() as uow:
        for recipient in recipients:
            uow.outbox.add(verification_email(recipient, "Ada", LINK), at=clock.now())
        uow.commit()


def rows(store: SqlStore) -> list[OutboxRow]:
    with store.engine.connect() as connection:
        result = connection.execute(sa.select(outbox).order_by(outbox.c.created_at, outbox.c.id))
        return [
            OutboxRow(
                recipient=r.recipient,
                status=OutboxStatus(r.status),
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at,
                sent_at=r.sent_at,
                last_error=r.last_error,
            )
            for r in result
        ]


def smtp_mailer(port: int) -> SmtpMailer:
    return SmtpMailer(host="127.0.0.1", port=port, sender=SENDER, timeout=5)


def dispatch(
    store: SqlStore, mailer: Any, clock: SteppingClock, max_attempts: int = 5
) -> DispatchReport:
    return dispatch_due(store.unit_of_work, mailer, clock=clock, max_attempts=max_attempts)


def test_a_due_message_is_delivered_and_marked_sent(
    store: SqlStore, clock: SteppingClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, "ada@example.com")

    report = dispatch(store, smtp_mailer(smtp_server.port), clock)

    assert report == DispatchReport(sent=1)
    [received] = smtp_server.wait_for(1)
    assert received["To"] == "ada@example.com"
    [row] = rows(store)
    assert row.status is OutboxStatus.SENT
    assert row.sent_at == clock.now()
    assert dispatch(store, smtp_mailer(smtp_server.port), clock) == DispatchReport()


def test_a_failed_send_counts_the_attempt_and_backs_off(
    store: SqlStore, clock: SteppingClock
) -> None:
    enqueue(store, clock, "ada@example.com")
    closed = smtp_mailer(unused_port())

    assert dispatch(store, closed, clock) == DispatchReport(failed=1)

    [row] = rows(store)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("ConnectionRefusedError")
    assert_waits_about(row, clock, seconds=10)
    assert dispatch(store, closed, clock) == DispatchReport(), "not due before the backoff"

    clock.advance(timedelta(seconds=12))
    assert dispatch(store, closed, clock) == DispatchReport(failed=1)
    [row] = rows(store)
    assert row.attempts == 2
    assert_waits_about(row, clock, seconds=20)


def test_a_message_is_dead_after_max_attempts_and_never_retried(
    store: SqlStore, clock: SteppingClock
) -> None:
    enqueue(store, clock, "ada@example.com")
    closed = smtp_mailer(unused_port())

    reports = []
    for _ in range(3):
        reports.append(dispatch(store, closed, clock, max_attempts=3))
        clock.advance(timedelta(hours=2))

    assert reports == [DispatchReport(failed=1), DispatchReport(failed=1), DispatchReport(dead=1)]
    [row] = rows(store)
    assert row.status is OutboxStatus.DEAD
    assert row.attempts == 3
    assert dispatch(store, closed, clock, max_attempts=3) == DispatchReport()


@pytest.fixture
def any_store(store_target: StoreTarget) -> Iterator[SqlStore]:
    """The store on SQLite and on PostgreSQL, as the runtime role sees it."""
    store = SqlStore(store_target.url)
    yield store
    store.dispose()


def stored_bodies(target: StoreTarget, recipient: str) -> tuple[str, str, str]:
    """`(status, text_body, html_body)` of the recipient's one message, read past RLS."""
    with privileged(target) as db:
        [row] = db.execute(
            sa.select(outbox.c.status, outbox.c.text_body, outbox.c.html_body).where(
                outbox.c.recipient == recipient
            )
        ).all()
    return row.status, row.text_body, row.html_body


def test_a_dead_message_keeps_no_bodies_and_so_no_link(
    any_store: SqlStore, store_target: StoreTarget
) -> None:
    # Long before anything other tests queued: on a shared database only this message is due.
    clock = SteppingClock(datetime(2001, 1, 1, 12, 0, tzinfo=UTC))
    recipient = unique_email("undeliverable")
    enqueue(any_store, clock, recipient)
    closed = smtp_mailer(unused_port())

    assert dispatch(any_store, closed, clock, max_attempts=2) == DispatchReport(failed=1)
    status, text, html = stored_bodies(store_target, recipient)
    assert status == OutboxStatus.PENDING.value
    assert LINK in text  # kept while a retry may still send it
    assert LINK in html
    clock.advance(timedelta(hours=2))
    assert dispatch(any_store, closed, clock, max_attempts=2) == DispatchReport(dead=1)

    assert stored_bodies(store_target, recipient) == (OutboxStatus.DEAD.value, "", "")


def test_one_bad_message_does_not_block_the_others(
    store: SqlStore, clock: SteppingClock, smtp_server: SmtpServer
) -> None:
    # A recipient with CRLF is refused while the message is built: a real malformed message.
    enqueue(store, clock, "first@example.com")
    with store.unit_of_work() as uow:
        bad = EmailMessage(
            to="x@example.com\r\nBcc: eve@example.com", subject="s", text="t", html="h", kind="k"
        )
        uow.outbox.add(bad, at=clock.now())
        uow.commit()
    clock.advance(timedelta(seconds=1))
    enqueue(store, clock, "third@example.com")

    report = dispatch(store, smtp_mailer(smtp_server.port), clock)

    assert report == DispatchReport(sent=2, failed=1)
    received = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in received) == ["first@example.com", "third@example.com"]
    statuses = {row.recipient: row.status for row in rows(store)}
    assert statuses["first@example.com"] is OutboxStatus.SENT
    assert statuses["third@example.com"] is OutboxStatus.SENT
    assert statuses[bad.to] is OutboxStatus.PENDING


def test_the_batch_size_bounds_one_dispatch(
    store: SqlStore, clock: SteppingClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, *(f"user{i}@example.com" for i in range(5)))
    mailer = smtp_mailer(smtp_server.port)

    first = dispatch_due(store.unit_of_work, mailer, clock=clock, max_attempts=5, batch_size=3)
    second = dispatch_due(store.unit_of_work, mailer, clock=clock, max_attempts=5, batch_size=3)

    assert (first.sent, second.sent) == (3, 2)
    assert len(smtp_server.wait_for(5)) == 5


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 10), (3, 40), (9, 2560), (10, 3600)])
def test_backoff_doubles_from_ten_seconds_up_to_an_hour_with_jitter(
    attempts: int, seconds: int
) -> None:
    for _ in range(50):
        assert seconds * 0.9 <= backoff(attempts).total_seconds() <= seconds * 1.1
    assert backoff(10_000).total_seconds() <= 3600 * 1.1


def test_the_dispatcher_thread_delivers_and_stops_at_once(
    store: SqlStore, clock: SteppingClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, "ada@example.com")
    dispatcher = OutboxDispatcher(
        store.unit_of_work,
        smtp_mailer(smtp_server.port),
        clock=clock,
        max_attempts=5,
        poll_seconds=3600,
    )

    dispatcher.start()
    smtp_server.wait_for(1)
    started = time.monotonic()
    dispatcher.stop()

    assert time.monotonic() - started < 2, "stop must not wait for the poll interval"
    assert not dispatcher.running


def test_the_dispatcher_survives_a_failing_store(
    store: SqlStore, clock: SteppingClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, "ada@example.com")
    calls = 0

    def flaky_unit_of_work(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database unavailable")
        return store.unit_of_work(**kwargs)

    dispatcher = OutboxDispatcher(
        flaky_unit_of_work,
        smtp_mailer(smtp_server.port),
        clock=clock,
        max_attempts=5,
        poll_seconds=0.05,
    )

    dispatcher.start()
    try:
        smtp_server.wait_for(1)
        assert dispatcher.running
    finally:
        dispatcher.stop()


def assert_waits_about(row: OutboxRow, clock: SteppingClock, *, seconds: float) -> None:
    wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert seconds * 0.9 <= wait <= seconds * 1.1
