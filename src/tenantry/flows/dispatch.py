"""Sends due outbox emails and records each result. The edge-like driver of the outbox.

The outbox row is written in the same transaction as the change that caused the email; this
module delivers it afterwards, at least once. It owns its small transactions: one to claim a
batch, then one per entry to record the result, so that no transaction stays open while an
SMTP server is slow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

import structlog

from tenantry.clock import Clock
from tenantry.domain.errors import Conflict
from tenantry.domain.model import OutboxEntry
from tenantry.outbox.ports import Mailer
from tenantry.unit_of_work import UnitOfWorkFactory

MAX_BACKOFF_SECONDS = 3600
CLAIM_LEASE = timedelta(minutes=5)
BASE_BACKOFF_SECONDS = 5
JITTER = 0.1
_MAX_ERROR_LENGTH = 1000

_log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0


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
) -> DispatchReport:
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    outcomes = [
        _deliver(uow_factory, mailer, entry, clock=clock, max_attempts=max_attempts)
        for entry in _claim_due(uow_factory, clock=clock, limit=batch_size)
    ]
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
    # The claim is a lease: the next attempt moves out of other dispatchers' reach until the
    # lease runs out (a dispatcher that dies mid-send is retried then); mark_sent and
    # mark_failed overwrite it.
    now = clock.now()
    try:
        with uow_factory() as uow:
            entries = uow.outbox.due(now, limit=limit)
            uow.outbox.claim(entries, until=now + CLAIM_LEASE)
            uow.commit()
    except Conflict:
        return []  # another dispatcher claimed some of them first; the next poll goes on
    return entries


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
        mailer.send(entry.message)
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
    dead = attempts >= max_attempts
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
