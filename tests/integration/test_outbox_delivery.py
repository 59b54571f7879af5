"""What the outbox promises when the mail server misbehaves, on SQLite and PostgreSQL, with
emails that sign-up and password reset queue through the HTTP API and a real SMTP server on
loopback that refuses, goes down, holds its answer or comes back:

- every email is delivered once the server takes mail again: none lost, none twice;
- a dispatcher that dies between sending and marking causes one duplicate at most;
- an email refused for good is dead after the last attempt, with its last error, and
  `tenantry outbox status | retry --dead | run --once` show it, revive it and deliver it;
- `outbox run` stops after the current message on SIGINT or SIGTERM;
- two dispatchers at once never send one email twice.

PostgreSQL gets a database of its own for each test: the outbox is one queue for the whole
database, whose counts `outbox status` reports and whose due emails any dispatcher sends.
Time is the test's clock, moved past each backoff; the CLI and worker processes read the real
one, which the test clock starts from.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from tenantry.bootstrap import Tenantry
from tenantry.clock import Clock
from tenantry.domain.model import OutboxEntry, OutboxStatus
from tenantry.flows.dispatch import DispatchReport, RetryReport, dispatch_due, retry_failed
from tenantry.mail.templates import EmailKind
from tenantry.store.sql.store import SqlStore
from tenantry.store.sql.tables import outbox
from tests.harness import (
    SENDER,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    connected,
    smtp_mailer,
    sql_store,
    unique_email,
)
from tests.integration.test_audit_archive import archive_template, cli, store_target
from tests.integration.test_cli import Cli, _logging_restored, environment
from tests.smtp_server import HOST, LAST_RESORT_SECONDS, SmtpServer, _Collector, _start_controller

# Reused fixtures: PostgreSQL's database of its own (`store_target`, from `archive_template`),
# the CLI on it (`cli`) and its clean environment.
__all__ = ["_logging_restored", "archive_template", "cli", "environment", "store_target"]

pytestmark = pytest.mark.smtp

TEMPORARY = "451 4.3.0 Mail server busy, try again later"
PERMANENT = "550 5.1.1 Mailbox unavailable"


# --- a mail server that misbehaves -----------------------------------------------------------


class MisbehavingHandler(_Collector):
    """Stores what it accepts, as the suite's server does; or answers DATA with `refusal`, or
    holds its answer to the next message it stores until released."""

    def __init__(self) -> None:
        super().__init__()
        self.refusal: str | None = None
        self.delay = 0.0
        self.holding = threading.Event()  # set once a held message is stored
        self._gate: threading.Event | None = None

    def hold_next_answer(self) -> threading.Event:
        """The gate to set to let the answer go."""
        self._gate = gate = threading.Event()
        return gate

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusal is not None:
            return self.refusal
        await asyncio.sleep(self.delay)
        reply = await super().handle_DATA(server, session, envelope)
        gate, self._gate = self._gate, None
        if gate is not None:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, LAST_RESORT_SECONDS)
        return reply


class MisbehavingServer(SmtpServer):
    def __init__(self, handler: MisbehavingHandler) -> None:
        super().__init__(_start_controller(handler), handler)
        self.handler = handler
        self._up = True

    def refuse(self, reply: str | None) -> None:
        self.handler.refusal = reply

    def go_down(self) -> None:
        self._controller.stop()
        self._up = False

    def come_back(self) -> None:
        """Listening again on the same port, with the messages it stored before."""
        self._controller = Controller(self.handler, hostname=HOST, port=self.port)
        self._controller.start()
        self._up = True

    def close(self) -> None:
        if self._up:
            self._controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(MisbehavingHandler())
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def operator(cli: Cli, smtp_server: MisbehavingServer, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`tenantry …` on the test's store, sending through the test's SMTP server."""
    monkeypatch.setenv("TENANTRY_MAILER", "smtp")
    monkeypatch.setenv("TENANTRY_SMTP_HOST", HOST)
    monkeypatch.setenv("TENANTRY_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("TENANTRY_MAIL_FROM", SENDER)
    return cli


# --- steps ---------------------------------------------------------------------------------


def dispatch(tenantry: Tenantry, *, max_attempts: int = 8) -> DispatchReport:
    return dispatch_due(
        tenantry.store.unit_of_work,
        tenantry.mailer,
        clock=tenantry.clock,
        max_attempts=max_attempts,
    )


def signed_up(api: Api, label: str = "user") -> str:
    email = unique_email(label)
    assert api.signup(email).status_code == 202
    return email


def stored(tenantry: Tenantry, target: StoreTarget, *recipients: str) -> list[OutboxEntry]:
    """The recipients' emails as the outbox holds them, oldest first."""
    query = sa.select(outbox.c.id).where(outbox.c.recipient.in_(recipients))
    with connected(target.url) as db:
        ids = list(db.scalars(query.order_by(outbox.c.created_at, outbox.c.id)))
    with tenantry.store.unit_of_work() as uow:
        return [entry for entry_id in ids if (entry := uow.outbox.get(entry_id))]


def received(server: SmtpServer) -> Counter[tuple[str, str]]:
    """How many messages arrived for each (recipient, kind)."""
    return Counter((str(m["To"]), str(m["X-Tenantry-Kind"])) for m in server.messages)


def outbox_status(operator: Cli) -> dict[str, Any]:
    result = operator("outbox", "status", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def json_of(operator: Cli, *args: str) -> dict[str, Any]:
    result = operator(*args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def worker(*options: str) -> subprocess.Popen[str]:
    """`tenantry outbox run` in a process of its own, with the operator's environment."""
    command = [sys.executable, "-m", "tenantry.cli", "outbox", "run", *options]
    return subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )


def said_within(process: subprocess.Popen[str], seconds: float) -> str:
    """The next line the worker writes to its stderr, waited for at most `seconds`."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stderr = process.stderr
    threading.Thread(target=lambda: lines.put(stderr.readline()), daemon=True).start()
    try:
        return lines.get(timeout=seconds)
    except queue.Empty:
        process.kill()
        raise AssertionError("the worker said nothing after the signal") from None


def wait_until_holding(server: MisbehavingServer, process: subprocess.Popen[str]) -> None:
    if not server.handler.holding.wait(LAST_RESORT_SECONDS):
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the worker sent nothing: {out}\n{err}")


# --- delivery through refusals and an outage -------------------------------------------------


def test_emails_refused_then_unreachable_are_all_delivered_once_the_server_is_back(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    clock: TestClock,
    smtp_server: MisbehavingServer,
) -> None:
    account = api.verified_account()
    first, second = signed_up(api, "first"), signed_up(api, "second")
    asked = api.client.post("/v1/auth/password-reset", json={"email": account.email})
    assert asked.status_code == 202
    before = received(smtp_server)

    smtp_server.refuse(TEMPORARY)
    assert dispatch(tenantry) == DispatchReport(failed=3)
    clock.advance(minutes=1)
    smtp_server.go_down()
    assert dispatch(tenantry) == DispatchReport(failed=3)
    everything = stored(tenantry, store_target, first, second, account.email)
    waiting = [entry for entry in everything if entry.status is OutboxStatus.PENDING]
    assert [entry.attempts for entry in waiting] == [2, 2, 2]
    assert all("ConnectionRefusedError" in (e.last_error or "") for e in waiting)

    smtp_server.come_back()
    smtp_server.refuse(None)
    assert dispatch(tenantry) == DispatchReport(), "not due before the backoff"
    clock.advance(minutes=1)
    assert dispatch(tenantry) == DispatchReport(sent=3)

    clock.advance(hours=2)
    assert dispatch(tenantry) == DispatchReport()
    assert received(smtp_server) - before == Counter(
        {
            (first, EmailKind.VERIFY_EMAIL.value): 1,
            (second, EmailKind.VERIFY_EMAIL.value): 1,
            (account.email, EmailKind.PASSWORD_RESET.value): 1,
        }
    )
    everything = stored(tenantry, store_target, first, second, account.email)
    assert {entry.status for entry in everything} == {OutboxStatus.SENT}
    token = api.mailbox.last_link_token(first, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200


def test_a_dispatcher_that_dies_between_sending_and_marking_causes_one_duplicate_at_most(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    clock: TestClock,
    smtp_server: MisbehavingServer,
    operator: Cli,
) -> None:
    recipient = signed_up(api)
    gate = smtp_server.handler.hold_next_answer()
    process = worker("--poll", "0.2")
    wait_until_holding(smtp_server, process)  # the server has the message; the worker waits
    process.kill()
    process.wait(LAST_RESORT_SECONDS)
    gate.set()

    [orphan] = stored(tenantry, store_target, recipient)
    assert (orphan.status, orphan.attempts) == (OutboxStatus.PENDING, 0)
    assert dispatch(tenantry) == DispatchReport(), "leased to the dead worker for now"
    clock.advance(minutes=10)
    assert dispatch(tenantry) == DispatchReport(sent=1)
    clock.advance(hours=2)
    assert dispatch(tenantry) == DispatchReport()

    first, again = [m for m in smtp_server.messages if m["To"] == recipient]
    assert again["Subject"] == first["Subject"]
    assert _text(again) == _text(first)
    assert [e.status for e in stored(tenantry, store_target, recipient)] == [OutboxStatus.SENT]
    assert again["Message-ID"] == first["Message-ID"]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


# --- dead letters and the operator's commands ------------------------------------------------


def test_an_email_refused_for_good_is_dead_then_retried_and_delivered_by_the_operator(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    clock: TestClock,
    smtp_server: MisbehavingServer,
    operator: Cli,
) -> None:
    recipient = signed_up(api)
    smtp_server.refuse(PERMANENT)
    reports = []
    for _ in range(3):
        reports.append(dispatch(tenantry, max_attempts=3))
        clock.advance(minutes=2)
    assert reports == [DispatchReport(failed=1), DispatchReport(failed=1), DispatchReport(dead=1)]
    [dead] = stored(tenantry, store_target, recipient)
    assert (dead.status, dead.attempts) == (OutboxStatus.DEAD, 3)
    assert dead.last_error is not None
    assert "550" in dead.last_error
    assert "Mailbox unavailable" in dead.last_error

    status = outbox_status(operator)
    assert {k: status[k] for k in ("pending", "due", "dead", "sent")} == {
        "pending": 0,
        "due": 0,
        "dead": 1,
        "sent": 0,
    }
    assert "│ dead │ 1 │" in operator.ok("outbox", "status")
    assert operator.ok("outbox", "retry") == "0 emails made due now"
    assert stored(tenantry, store_target, recipient)[0].status is OutboxStatus.DEAD

    smtp_server.refuse(None)
    retried = json_of(operator, "outbox", "retry", "--dead")
    assert retried == {"made_due": 1, "revived": 1, "left": []}
    [revived] = stored(tenantry, store_target, recipient)
    assert (revived.status, revived.attempts, revived.last_error) == (
        OutboxStatus.PENDING,
        0,
        dead.last_error,
    )
    [event] = audit_events(store_target, org_id=None, action="outbox.retry")
    assert event.details == {"entries": [dead.id], "dead": 1}

    assert operator.ok("outbox", "run", "--once").endswith("sent 1, failed 0, dead 0")
    assert received(smtp_server) == Counter({(recipient, EmailKind.VERIFY_EMAIL.value): 1})
    assert stored(tenantry, store_target, recipient)[0].status is OutboxStatus.SENT
    assert {k: v for k, v in outbox_status(operator).items() if k in ("dead", "sent")} == {
        "dead": 0,
        "sent": 1,
    }
    token = api.mailbox.last_link_token(recipient, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200


def test_retry_makes_only_the_emails_backing_off_due_and_leaves_leased_and_dead_ones(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    clock: TestClock,
    smtp_server: MisbehavingServer,
    operator: Cli,
) -> None:
    smtp_server.go_down()
    backing_off = failed_at(api, tenantry, clock, hours=1)  # next attempt an hour away
    due_soon = failed_at(api, tenantry, clock, minutes=2)  # within a lease: may be in flight
    given_up = failed_at(api, tenantry, clock, max_attempts=1)
    [far, near, dead] = [
        stored(tenantry, store_target, r)[0] for r in (backing_off, due_soon, given_up)
    ]
    assert (far.attempts, near.attempts, dead.status) == (1, 1, OutboxStatus.DEAD)

    assert json_of(operator, "outbox", "retry") == {"made_due": 1, "revived": 0, "left": []}

    now = datetime.now(UTC)
    [retried] = stored(tenantry, store_target, backing_off)
    assert (retried.status, retried.attempts) == (OutboxStatus.PENDING, 0)
    assert retried.next_attempt_at <= now
    assert stored(tenantry, store_target, due_soon) == [near]
    assert stored(tenantry, store_target, given_up) == [dead]
    named = json_of(operator, "outbox", "retry", "--id", near.id, "--id", dead.id)
    assert named == {
        "made_due": 0,
        "revived": 0,
        "left": [
            {"id": near.id, "reason": "due within the lease: a dispatcher may be sending it"},
            {"id": dead.id, "reason": "dead: retry it with --dead"},
        ],
    }
    unknown = operator("outbox", "retry", "--dead", "--id", dead.id, "--id", "msg_unknown")
    assert unknown.exit_code == 1
    assert "outbox_entry_not_found" in unknown.stderr
    assert stored(tenantry, store_target, given_up) == [dead], "nothing changes on a refusal"


def test_a_retry_goes_through_the_dead_letters_a_batch_at_a_time_each_audited(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    smtp_server: MisbehavingServer,
) -> None:
    smtp_server.refuse(PERMANENT)
    recipients = [signed_up(api, f"user{i}") for i in range(5)]
    assert dispatch(tenantry, max_attempts=1) == DispatchReport(dead=5)
    so_far: list[RetryReport] = []

    report = retry_failed(
        tenantry.store.unit_of_work,
        clock=tenantry.clock,
        dead=True,
        batch_size=2,
        progress=so_far.append,
    )

    assert report == RetryReport(made_due=5, revived=5)
    assert [(r.made_due, r.revived) for r in so_far] == [(2, 2), (4, 4), (5, 5)]
    events = audit_events(store_target, org_id=None, action="outbox.retry")
    assert [len(event.details["entries"]) for event in events] == [2, 2, 1]
    entries = stored(tenantry, store_target, *recipients)
    assert sorted(i for event in events for i in event.details["entries"]) == sorted(
        entry.id for entry in entries
    )
    assert {(entry.status, entry.attempts) for entry in entries} == {(OutboxStatus.PENDING, 0)}


def failed_at(
    api: Api, tenantry: Tenantry, clock: TestClock, *, max_attempts: int = 8, **later: float
) -> str:
    """A sign-up whose email failed once, `later` than now (the test clock comes back)."""
    recipient = signed_up(api)
    clock.advance(**later)
    assert dispatch(tenantry, max_attempts=max_attempts).handled == 1
    clock.advance(**{unit: -amount for unit, amount in later.items()})
    return recipient


# --- the worker ------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_worker_after_the_current_message_and_hands_back_the_rest(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    smtp_server: MisbehavingServer,
    operator: Cli,
    stop: signal.Signals,
) -> None:
    recipients = [signed_up(api, f"user{i}") for i in range(3)]
    gate = smtp_server.handler.hold_next_answer()
    process = worker("--batch", "5", "--poll", "0.2")
    wait_until_holding(smtp_server, process)

    process.send_signal(stop)
    said = said_within(process, LAST_RESORT_SECONDS)  # the signal was taken: the worker says so
    gate.set()
    out, err = process.communicate(timeout=LAST_RESORT_SECONDS)

    assert said.startswith("stopping: the message being sent is finished first"), said

    assert process.returncode == 0, (out, err)
    assert "stopped: sent 1, failed 0, dead 0" in out
    assert len(smtp_server.messages) == 1
    entries = stored(tenantry, store_target, *recipients)
    assert sorted(e.status for e in entries) == [
        OutboxStatus.PENDING,
        OutboxStatus.PENDING,
        OutboxStatus.SENT,
    ]
    now = datetime.now(UTC)
    handed_back = [e for e in entries if e.status is OutboxStatus.PENDING]
    assert all(e.next_attempt_at <= now and e.attempts == 0 for e in handed_back), "due at once"


# --- several dispatchers ---------------------------------------------------------------------


def test_two_dispatchers_at_once_never_send_an_email_twice(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    smtp_server: MisbehavingServer,
) -> None:
    recipients = [signed_up(api, f"user{i}") for i in range(24)]
    smtp_server.handler.delay = 0.02  # each send takes a while, so the two overlap
    start = threading.Barrier(2, timeout=LAST_RESORT_SECONDS)
    sent: dict[str, int] = {}

    def run(name: str, store: SqlStore) -> None:
        mailer = smtp_mailer(smtp_server.port)
        start.wait()
        count = 0
        while _anything_due(store, tenantry.clock):
            report = dispatch_due(
                store.unit_of_work, mailer, clock=tenantry.clock, max_attempts=3, batch_size=3
            )
            count += report.sent
        sent[name] = count

    with sql_store(store_target.url) as first, sql_store(store_target.url) as second:
        threads = [
            threading.Thread(target=run, args=(name, store))
            for name, store in (("first", first), ("second", second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LAST_RESORT_SECONDS)

    assert received(smtp_server) == Counter(
        {(recipient, EmailKind.VERIFY_EMAIL.value): 1 for recipient in recipients}
    )
    assert sum(sent.values()) == 24
    assert sent["first"] > 0
    assert sent["second"] > 0, "both dispatchers sent some"
    entries = stored(tenantry, store_target, *recipients)
    assert {entry.status for entry in entries} == {OutboxStatus.SENT}


def _anything_due(store: SqlStore, clock: Clock) -> bool:
    with store.unit_of_work() as uow:
        return uow.outbox.stats(clock.now()).due > 0


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)
def test_on_postgresql_a_dispatcher_skips_the_emails_another_is_claiming(
    api: Api,
    tenantry: Tenantry,
    store_target: StoreTarget,
    smtp_server: MisbehavingServer,
) -> None:
    recipients = [signed_up(api, f"user{i}") for i in range(5)]
    reports: list[DispatchReport] = []

    with sql_store(store_target.url) as other, tenantry.store.unit_of_work() as claiming:
        held = claiming.outbox.due(tenantry.clock.now(), limit=2)  # locked until this ends
        thread = threading.Thread(target=lambda: reports.append(dispatch_with(other, tenantry)))
        thread.start()
        thread.join(LAST_RESORT_SECONDS)
        assert not thread.is_alive(), "the other dispatcher waited for the locked rows"
    assert reports == [DispatchReport(sent=3)]
    held_to = {entry.message.to for entry in held}
    assert held_to.isdisjoint(str(m["To"]) for m in smtp_server.messages)

    assert dispatch(tenantry) == DispatchReport(sent=2)  # once the lock is gone
    assert sorted(str(m["To"]) for m in smtp_server.messages) == sorted(recipients)


def dispatch_with(store: SqlStore, tenantry: Tenantry) -> DispatchReport:
    return dispatch_due(store.unit_of_work, tenantry.mailer, clock=tenantry.clock, max_attempts=3)
