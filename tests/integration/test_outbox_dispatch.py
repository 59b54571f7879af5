"""The outbox dispatcher on SQLite, PostgreSQL and DynamoDB Local: delivery, retries with
backoff, dead letters, batches and the background thread.

The PostgreSQL database is shared by the whole session and holds other tests' mail. So each
test here mails addresses of its own, runs its clock long before anything other tests queue
(only its own messages are due) and leaves no message behind (no other test's dispatcher
ever sends one of them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tenantry.domain.model import EmailMessage, OutboxStatus
from tenantry.flows.dispatch import DispatchReport, backoff, dispatch_due
from tenantry.flows.dispatcher import OutboxDispatcher
from tenantry.mail.templates import EmailTemplates
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.store import open_dynamo_store
from tenantry.store.open import Store
from tenantry.store.sql.tables import outbox
from tests.harness import (
    ON_EVERY_STORE_USED,
    StoreTarget,
    TestClock,
    dynamo_rows,
    privileged,
    rows_added_are_removed,
    smtp_mailer,
    sql_store,
    unique_email,
)
from tests.smtp_server import SmtpServer, unused_port

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE_USED]

LINK = "https://app.example/verify-email?token=abc"
LONG_AGO = datetime(2001, 1, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class OutboxRow:
    recipient: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    text_body: str
    html_body: str


@pytest.fixture
def store(store_target: StoreTarget) -> Iterator[Store]:
    """The store as the runtime role sees it; what the test queued is deleted afterwards (on
    DynamoDB, the test's table goes with it)."""
    if store_target.name == "dynamo":
        yield open_dynamo_store(store_target.url)
        return
    with sql_store(store_target.url) as store, rows_added_are_removed(store_target, outbox.c.id):
        yield store


@pytest.fixture
def clock() -> TestClock:
    # Long before anything other tests queued: on a shared database only this test's mail is due.
    return TestClock(LONG_AGO)


def enqueue(store: Store, clock: TestClock, *recipients: str) -> None:
    with store.unit_of_work() as uow:
        for recipient in recipients:
            uow.outbox.add(
                EmailTemplates().verification_email(recipient, "Ada", LINK), at=clock.now()
            )
        uow.commit()


def rows(target: StoreTarget, *recipients: str) -> list[OutboxRow]:
    """The recipients' messages as stored, oldest first, read past RLS."""
    if target.name == "dynamo":
        return _items(target, recipients)
    columns = [outbox.c[field.name] for field in fields(OutboxRow)]
    query = sa.select(*columns).where(outbox.c.recipient.in_(recipients))
    with privileged(target) as db:
        found = db.execute(query.order_by(outbox.c.created_at, outbox.c.id))
        return [OutboxRow(**{**row._asdict(), "status": OutboxStatus(row.status)}) for row in found]


def _items(target: StoreTarget, recipients: tuple[str, ...]) -> list[OutboxRow]:
    found = [row for row in dynamo_rows(target.url, "outbox_entry") if row.recipient in recipients]
    found.sort(key=lambda row: (row.created_at, row.id))
    return [
        OutboxRow(
            recipient=row.recipient,
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=codec.required_moment(row.next_attempt_at),
            sent_at=codec.moment(getattr(row, "sent_at", None)),
            last_error=getattr(row, "last_error", None),
            text_body=row.text_body,
            html_body=row.html_body,
        )
        for row in found
    ]


def dispatch(store: Store, mailer: Any, clock: TestClock, max_attempts: int = 5) -> DispatchReport:
    return dispatch_due(store.unit_of_work, mailer, clock=clock, max_attempts=max_attempts)


def test_a_due_message_is_delivered_and_marked_sent(
    store: Store, store_target: StoreTarget, clock: TestClock, smtp_server: SmtpServer
) -> None:
    recipient = unique_email("ada")
    enqueue(store, clock, recipient)

    report = dispatch(store, smtp_mailer(smtp_server.port), clock)

    assert report == DispatchReport(sent=1)
    [received] = smtp_server.wait_for(1)
    assert received["To"] == recipient
    [row] = rows(store_target, recipient)
    assert row.status is OutboxStatus.SENT
    assert row.sent_at == clock.now()
    assert dispatch(store, smtp_mailer(smtp_server.port), clock) == DispatchReport()


def test_a_failed_send_counts_the_attempt_and_backs_off(
    store: Store, store_target: StoreTarget, clock: TestClock
) -> None:
    recipient = unique_email("ada")
    enqueue(store, clock, recipient)
    closed = smtp_mailer(unused_port())

    assert dispatch(store, closed, clock) == DispatchReport(failed=1)

    [row] = rows(store_target, recipient)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("ConnectionRefusedError")
    assert_waits_about(row, clock, seconds=10)
    assert dispatch(store, closed, clock) == DispatchReport(), "not due before the backoff"

    clock.advance(seconds=12)
    assert dispatch(store, closed, clock) == DispatchReport(failed=1)
    [row] = rows(store_target, recipient)
    assert row.attempts == 2
    assert_waits_about(row, clock, seconds=20)


def test_a_message_is_dead_after_max_attempts_and_never_retried(
    store: Store, store_target: StoreTarget, clock: TestClock
) -> None:
    recipient = unique_email("ada")
    enqueue(store, clock, recipient)
    closed = smtp_mailer(unused_port())

    reports = []
    for _ in range(3):
        reports.append(dispatch(store, closed, clock, max_attempts=3))
        clock.advance(hours=2)

    assert reports == [DispatchReport(failed=1), DispatchReport(failed=1), DispatchReport(dead=1)]
    [row] = rows(store_target, recipient)
    assert row.status is OutboxStatus.DEAD
    assert row.attempts == 3
    assert dispatch(store, closed, clock, max_attempts=3) == DispatchReport()


def stored_bodies(target: StoreTarget, recipient: str) -> tuple[str, str, str]:
    """`(status, text_body, html_body)` of the recipient's one message, read past RLS."""
    [row] = rows(target, recipient)
    return row.status.value, row.text_body, row.html_body


def test_a_dead_message_keeps_its_bodies_for_a_retry(
    store: Store, store_target: StoreTarget, clock: TestClock
) -> None:
    recipient = unique_email("undeliverable")
    enqueue(store, clock, recipient)
    closed = smtp_mailer(unused_port())

    assert dispatch(store, closed, clock, max_attempts=2) == DispatchReport(failed=1)
    status, text, html = stored_bodies(store_target, recipient)
    assert status == OutboxStatus.PENDING.value
    assert LINK in text  # kept while a retry may still send it
    assert LINK in html
    clock.advance(hours=2)
    assert dispatch(store, closed, clock, max_attempts=2) == DispatchReport(dead=1)

    status, text, html = stored_bodies(store_target, recipient)
    assert status == OutboxStatus.DEAD.value
    assert LINK in text  # kept for `tenantry outbox retry --dead`
    assert LINK in html


def test_one_bad_message_does_not_block_the_others(
    store: Store, store_target: StoreTarget, clock: TestClock, smtp_server: SmtpServer
) -> None:
    first, third = unique_email("first"), unique_email("third")
    # A recipient with CRLF is refused while the message is built: a real malformed message.
    enqueue(store, clock, first)
    with store.unit_of_work() as uow:
        bad = EmailMessage(
            to=f"{unique_email('x')}\r\nBcc: eve@example.com",
            subject="s",
            text="t",
            html="h",
            kind="k",
        )
        uow.outbox.add(bad, at=clock.now())
        uow.commit()
    clock.advance(seconds=1)
    enqueue(store, clock, third)

    report = dispatch(store, smtp_mailer(smtp_server.port), clock)

    assert report == DispatchReport(sent=2, failed=1)
    received = smtp_server.wait_for(2)
    assert sorted(m["To"] for m in received) == sorted([first, third])
    statuses = {row.recipient: row.status for row in rows(store_target, first, bad.to, third)}
    assert statuses[first] is OutboxStatus.SENT
    assert statuses[third] is OutboxStatus.SENT
    assert statuses[bad.to] is OutboxStatus.PENDING


def test_the_batch_size_bounds_one_dispatch(
    store: Store, clock: TestClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, *(unique_email(f"user{i}") for i in range(5)))
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
    store: Store, clock: TestClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, unique_email("ada"))
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
    store: Store, clock: TestClock, smtp_server: SmtpServer
) -> None:
    enqueue(store, clock, unique_email("ada"))
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


def assert_waits_about(row: OutboxRow, clock: TestClock, *, seconds: float) -> None:
    wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert seconds * 0.9 <= wait <= seconds * 1.1
