"""A password attempt as a use case makes one (a login, or the current password on a password
change): the throttle first, a refusal when a limit is reached, and the account's owner warned
when the attempt took the account past its soft limit, whatever the attempt's outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenantry.context import ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import RateLimited, TenantryError
from tenantry.sessions.ports import AttemptPurpose, ThrottleLimit
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")
Writes = Callable[[Any], None]


def attempt_password(
    uow: UnitOfWork,
    deps: ServiceDeps,
    *,
    email: str,
    ip_address: str | None,
    purpose: AttemptPurpose,
    refused: Callable[[int, ThrottleLimit], RateLimited],
    check: Callable[[], T],
) -> T:
    """Run `check` (which verifies the password and carries on) unless the throttle refuses
    the attempt, in which case raise `refused(wait, limit)`.

    When the owner is to be warned, the warning is written with the use case's writes if it
    succeeds, or with its refusal (as `aftermath`, which survives the rollback) if not.
    """
    verdict = deps.throttle.begin_attempt(email=email, ip_address=ip_address, purpose=purpose)
    warning = _owner_warning(uow, deps, email, purpose) if verdict.warn_owner else None
    try:
        if verdict.wait is not None:
            raise refused(verdict.wait, verdict.limit or ThrottleLimit.PAIR)
        result = check()
    except TenantryError as error:
        # Not handled here: the refusal goes on as it is, only carrying the warning along.
        if warning is not None:
            error.aftermath = _both(error.aftermath, warning)
        raise
    if warning is not None:
        warning(uow)
    return result


def _owner_warning(
    uow: UnitOfWork, deps: ServiceDeps, email: str, purpose: AttemptPurpose
) -> Writes | None:
    """The email (and its audit event) telling the owner someone is trying passwords on the
    account; None when no account has this email."""
    user = uow.users.get_by_email(email)
    if user is None:
        return None
    now = deps.clock.now()
    message = deps.composer.sign_in_attempts_email(user)
    event = AuditDraft(
        event_type=EventType.AUTHENTICATION,
        action="auth.attack_warning",
        outcome=Outcome.SUCCESS,
        actor_type=ActorType.SYSTEM,
        resource_type="user",
        resource_id=user.id,
        reason="soft_limit_crossed",
        details={"purpose": purpose.value},
    )

    def warn(into: UnitOfWork) -> None:
        into.outbox.add(message, at=now)
        into.audit.append(event, at=now)

    return warn


def _both(first: Writes | None, then: Writes) -> Writes:
    if first is None:
        return then

    def both(into: Any) -> None:
        first(into)
        then(into)

    return both
