"""How every entry point (HTTP, CLI, Lambda) runs a use case: one unit of work, one commit.

A refused use case rolls back whole; the audit event it carries (and any `aftermath`, such as
revoking a token family) is then written in a small transaction of its own, so the refusal is
always on record and never half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog

from tenantry.domain.errors import TenantryError, Unavailable
from tenantry.ports import Clock, UnitOfWork, UnitOfWorkFactory

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
    read_only: bool = False,
) -> T:
    try:
        with uow_factory(
            org_id=org_id, user_id=user_id, request_id=request_id, read_only=read_only
        ) as uow:
            result = use_case(uow)
            uow.commit()
            return result
    except TenantryError as error:
        if error.audit is not None or error.aftermath is not None:
            record_refusal(uow_factory, error, clock=clock, request_id=request_id)
        raise


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
    except Unavailable:
        # The store is down: the caller still gets the original refusal, and the log has it.
        log.error("audit.refusal_not_recorded", code=error.code, action=draft and draft.action)
