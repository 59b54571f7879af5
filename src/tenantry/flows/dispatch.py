"""Sends due outbox emails and records each result, and makes failed ones due again when the
operator asks (`retry_failed`). The edge-like driver of the outbox.

The outbox row is written in the same transaction as the change that caused the email; this
module delivers it afterwards, at least once. It owns its small transactions: one to claim a
batch, then one per entry to record the result, so that no transaction stays open while an
SMTP server is slow.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

import structlog

from tenantry.clock import Clock
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Conflict, Invalid, NotFound
from tenantry.domain.model import OutboxEntry, OutboxStatus
from tenantry.outbox.ports import Mailer
from tenantry.unit_of_work import UnitOfWork, UnitOfWorkFactory

MAX_BACKOFF_SECONDS = 3600
CLAIM_LEASE = timedelta(minutes=5)
BASE_BACKOFF_SECONDS = 5
JITTER = 0.1
RETRY_BATCH = 100
_MAX_ERROR_LENGTH = 1000
_MAX_RETRY_CONFLICTS = 10

_log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.dead

    def plus(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            dead=self.dead + other.dead,
        )


class _Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


def dispatch_due(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer,
    *,
    clock: Clock,
    max_attempts: int,
    batch_size: int = 20,
    stopping: threading.Event | None = None,
) -> DispatchReport:
    """Claim a batch of due entries and send them one by one. Once `stopping` is set, the
    entries not sent yet are handed back (due at once, not when the lease runs out)."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    claimed = _claim_due(uow_factory, clock=clock, limit=batch_size)
    outcomes = []
    for index, entry in enumerate(claimed):
        if stopping is not None and stopping.is_set():
            _hand_back(uow_factory, claimed[index:], clock=clock)
            break
        outcomes.append(
            _deliver(uow_factory, mailer, entry, clock=clock, max_attempts=max_attempts)
        )
    return DispatchReport(
        sent=outcomes.count(_Outcome.SENT),
        failed=outcomes.count(_Outcome.FAILED),
        dead=outcomes.count(_Outcome.DEAD),
    )


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 5 s * 2**attempts, at most an hour, ±10 %."""
    base = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** min(attempts, 32))
    # Jitter spreads retries of a batch that failed together; it protects no secret.
    factor = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    return timedelta(seconds=base * factor)


def _claim_due(uow_factory: UnitOfWorkFactory, *, clock: Clock, limit: int) -> list[OutboxEntry]:
    """The entries claimed, as they now stand: leased until `now + CLAIM_LEASE`.

    The claim is a lease: the next attempt moves out of other dispatchers' reach until the
    lease runs out (a dispatcher that dies mid-send is retried then); mark_sent and
    mark_failed overwrite it.
    """
    now = clock.now()
    until = now + CLAIM_LEASE
    try:
        with uow_factory() as uow:
            entries = uow.outbox.due(now, limit=limit)
            uow.outbox.claim(entries, until=until)
            uow.commit()
    except Conflict:
        return []  # another dispatcher claimed some of them first; the next poll goes on
    return [replace(entry, next_attempt_at=until) for entry in entries]


def _hand_back(uow_factory: UnitOfWorkFactory, leased: list[OutboxEntry], *, clock: Clock) -> None:
    # A lease that ends now: any dispatcher may take the entries at once.
    try:
        with uow_factory() as uow:
            uow.outbox.claim(leased, until=clock.now())
            uow.commit()
    except Exception:
        # Not lost: they are sent once the lease runs out.
        _log.exception("outbox_hand_back_failed", entries=len(leased))


def _deliver(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer,
    entry: OutboxEntry,
    *,
    clock: Clock,
    max_attempts: int,
) -> _Outcome:
    # A failure here must not stop the batch; whatever went wrong is logged and retried later.
    try:
        mailer.send(replace(entry.message, message_id=entry.id))
    except Exception as exc:
        return _record_failure(uow_factory, entry, exc, clock=clock, max_attempts=max_attempts)
    try:
        with uow_factory() as uow:
            uow.outbox.mark_sent(entry.id, at=clock.now())
            uow.commit()
    except Exception:
        # The email went out but stays PENDING, so it may be sent again: at least once.
        _log.exception("outbox_mark_sent_failed", entry_id=entry.id, kind=entry.message.kind)
        return _Outcome.FAILED
    return _Outcome.SENT


def _record_failure(
    uow_factory: UnitOfWorkFactory,
    entry: OutboxEntry,
    error: Exception,
    *,
    clock: Clock,
    max_attempts: int,
) -> _Outcome:
    attempts = entry.attempts + 1
    # A message the sender refused as it is (SES: rejected, unverified sender) never will go.
    dead = attempts >= max_attempts or isinstance(error, Invalid)
    # Log ids and the error only: the message body carries a live token.
    _log.warning(
        "outbox_send_failed",
        entry_id=entry.id,
        kind=entry.message.kind,
        attempts=attempts,
        dead=dead,
        error=_describe(error),
    )
    try:
        with uow_factory() as uow:
            uow.outbox.mark_failed(
                entry.id,
                attempts=attempts,
                next_attempt_at=clock.now() + backoff(attempts),
                error=_describe(error),
                dead=dead,
            )
            uow.commit()
    except Exception:
        _log.exception("outbox_mark_failed_failed", entry_id=entry.id)
    return _Outcome.DEAD if dead else _Outcome.FAILED


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:_MAX_ERROR_LENGTH]


# --- the operator's retry -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryReport:
    made_due: int = 0  # entries made due now
    revived: int = 0  # of those, the ones that were DEAD
    left: dict[str, str] = field(default_factory=dict)  # a named entry left alone, and why

    def plus(self, other: RetryReport) -> RetryReport:
        return RetryReport(
            made_due=self.made_due + other.made_due,
            revived=self.revived + other.revived,
            left={**self.left, **other.left},
        )


def retry_failed(
    uow_factory: UnitOfWorkFactory,
    *,
    clock: Clock,
    dead: bool,
    ids: Sequence[str] = (),
    batch_size: int = RETRY_BATCH,
    progress: Callable[[RetryReport], None] | None = None,
) -> RetryReport:
    """Make the entries that are backing off due now and, with `dead`, the DEAD ones too;
    with `ids`, only those. Each starts again with no attempt counted; its last error stays.

    An entry whose next attempt is within a lease (`CLAIM_LEASE`) is left alone: a dispatcher
    may be sending it right now, and it comes due by then anyway. Each batch is one unit of
    work with an `outbox.retry` audit event on the system chain; `progress` hears of each.
    An unknown id is `NotFound` (`outbox_entry_not_found`) before anything changes.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = clock.now()
    if ids:
        named = list(dict.fromkeys(ids))
        return _retry_named(uow_factory, named, now=now, dead=dead, batch_size=batch_size)
    total, conflicts = RetryReport(), 0
    while True:
        try:
            done = _retry_batch(uow_factory, now=now, dead=dead, limit=batch_size)
        except Conflict:
            # A dispatcher or another retry moved one of them: read the batch again.
            conflicts += 1
            if conflicts > _MAX_RETRY_CONFLICTS:
                raise
            continue
        if not done.made_due:
            return total
        total = total.plus(done)
        if progress is not None:
            progress(total)


def _retry_batch(
    uow_factory: UnitOfWorkFactory, *, now: datetime, dead: bool, limit: int
) -> RetryReport:
    # Each batch leaves what it retried out of the next read (due now, or no longer DEAD).
    with uow_factory() as uow:
        batch = uow.outbox.waiting(now + CLAIM_LEASE, limit=limit)
        if dead and len(batch) < limit:
            batch += uow.outbox.dead(limit=limit - len(batch))
        report = _make_due(uow, batch, now=now)
        uow.commit()
    return report


def _retry_named(
    uow_factory: UnitOfWorkFactory, ids: list[str], *, now: datetime, dead: bool, batch_size: int
) -> RetryReport:
    with uow_factory() as uow:
        entries = [_entry_or_raise(uow, entry_id) for entry_id in ids]
    left = {entry.id: why for entry in entries if (why := _why_left(entry, now=now, dead=dead))}
    chosen = [entry for entry in entries if entry.id not in left]
    total = RetryReport(left=left)
    for start in range(0, len(chosen), batch_size):
        with uow_factory() as uow:
            done = _make_due(uow, chosen[start : start + batch_size], now=now)
            uow.commit()
        total = total.plus(done)
    return total


def _entry_or_raise(uow: UnitOfWork, entry_id: str) -> OutboxEntry:
    entry = uow.outbox.get(entry_id)
    if entry is None:
        raise NotFound(f"no outbox entry {entry_id}", code="outbox_entry_not_found")
    return entry


def _why_left(entry: OutboxEntry, *, now: datetime, dead: bool) -> str | None:
    """Why a named entry is not retried (the rules `waiting` and `dead` read by), or None."""
    if entry.status is OutboxStatus.SENT:
        return "sent already"
    if entry.status is OutboxStatus.DEAD:
        if not dead:
            return "dead: retry it with --dead"
        return None if entry.message.text else "dead before dead letters were kept: no message"
    if entry.next_attempt_at <= now:
        return "due already"
    if entry.next_attempt_at <= now + CLAIM_LEASE:
        return "due within the lease: a dispatcher may be sending it"
    return None if entry.attempts > 0 else "not tried yet"


def _make_due(uow: UnitOfWork, entries: list[OutboxEntry], *, now: datetime) -> RetryReport:
    if not entries:
        return RetryReport()
    for entry in entries:
        uow.outbox.make_due(entry, at=now)
    revived = sum(1 for entry in entries if entry.status is OutboxStatus.DEAD)
    uow.audit.append(_retry_event(entries, revived), at=now)
    return RetryReport(made_due=len(entries), revived=revived)


def _retry_event(entries: list[OutboxEntry], revived: int) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.CONFIGURATION,
        action="outbox.retry",
        outcome=Outcome.SUCCESS,
        actor_type=ActorType.SYSTEM,
        resource_type="outbox",
        details={"entries": [entry.id for entry in entries], "dead": revived},
    )
