"""How every entry point (HTTP, CLI, Lambda) runs a use case: one unit of work, one commit.

A refused use case rolls back whole; the audit event it carries (and any `aftermath`, such as
revoking a token family) is then written in a small transaction of its own, so the refusal is
always on record and never half-applied.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from tenantry.clock import Clock
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import TenantryError, Unavailable
from tenantry.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
log = structlog.get_logger()


def run_use_case(
    uow_factory: UnitOfWorkFactory,
    use_case: Callable[[UnitOfWork], T],
    *,
    clock: Clock,
    org_id: str | None = None,
    user_id: str | None = None,
    request_id: str | None = None,
    label: str | None = None,
    actor: Callable[[], tuple[str | None, str | None]] | None = None,
) -> T:
    """Run `use_case` in one unit of work and commit it; `label` names it in failure events.

    `actor` tells, when a failure is recorded, whom the use case acted for (an edge that
    learns the caller inside the use case, from a bearer token); else `org_id` and `user_id`.
    """
    for attempt in range(1, ACCESS_RETRIES + 1):
        try:
            with uow_factory(org_id=org_id, user_id=user_id, request_id=request_id) as uow:
                result = use_case(uow)
                uow.commit()
                return result
        except Unavailable as error:
            # Nothing was applied; the failure is still on record if the store can take it.
            scope = actor() if actor is not None else (org_id, user_id)
            error.audit = error.audit or _store_failure(error.code, *scope, label)
            record_refusal(uow_factory, error, clock=clock, request_id=request_id)
            raise
        except TenantryError as error:
            if error.code == ACCESS_CHANGED and attempt < ACCESS_RETRIES:
                _pause_before_retry(attempt)
                continue
            if error.audit is not None or error.aftermath is not None:
                record_refusal(uow_factory, error, clock=clock, request_id=request_id)
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")


# An access change lost a race on its organisation's epoch (`access.epoch`): another change
# committed after its reads. Nothing was applied, so it runs again on fresh reads; the racers
# of one organisation go one at a time, which a burst of a dozen gets through.
ACCESS_CHANGED = "access_changed"
ACCESS_RETRIES = 16


def _pause_before_retry(attempt: int) -> None:
    # A short random pause, growing with the attempt, so racers do not meet again in step.
    time.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 (jitter, not a secret)


def _store_failure(
    code: str, org_id: str | None, user_id: str | None, label: str | None
) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.CONFIGURATION,
        action="transaction.commit" if code == "commit_failed" else "transaction",
        outcome=Outcome.FAILURE,
        org_id=org_id,
        actor_id=user_id,
        actor_type=ActorType.USER if user_id else ActorType.SYSTEM,
        reason=code,
        details={"use_case": label} if label else {},
    )


def record_refusal(
    uow_factory: UnitOfWorkFactory, error: TenantryError, *, clock: Clock, request_id: str | None
) -> None:
    draft = error.audit
    try:
        with uow_factory(
            org_id=draft.org_id if draft else None,
            user_id=draft.actor_id if draft else None,
            request_id=request_id,
        ) as uow:
            if error.aftermath is not None:
                error.aftermath(uow)
            if draft is not None:
                uow.audit.append(draft, at=clock.now())
            uow.commit()
    except Unavailable as down:  # the store is down: the log says so, without a traceback
        log.warning(
            "audit.refusal_not_recorded",
            code=error.code,
            action=draft and draft.action,
            reason=down.code,
        )
    except Exception:  # the caller must still get the original refusal; the log keeps this one
        log.exception("audit.refusal_not_recorded", code=error.code, action=draft and draft.action)
