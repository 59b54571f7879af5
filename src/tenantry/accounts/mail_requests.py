"""What anyone may ask without signing in that sends an email to an address: sign-up, a
password-reset link, a new verification link.

Each answers the same whether or not the address has an account, and each is limited per
address and per client address (`LoginThrottle.begin_mail_request`) before anything is looked
up, so the limit says nothing about the address either: an unknown email is limited exactly
like a known one.
"""

from __future__ import annotations

from tenantry.accounts.email_address import normalise_email
from tenantry.accounts.service import (
    account_event,
    add_user,
    check_new_account,
    send_reset_link,
    send_verification,
)
from tenantry.context import ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Conflict, RateLimited
from tenantry.domain.model import User
from tenantry.unit_of_work import UnitOfWork


def signup(
    uow: UnitOfWork,
    deps: ServiceDeps,
    *,
    email: str,
    password: str,
    name: str,
    ip_address: str | None = None,
) -> User | None:
    """Make an account, or tell the owner of the address that someone tried to.

    Returns the new user, or None when the email already has an account: its owner is mailed
    a password-reset link instead, and nothing is created. Unless the policy reveals existing
    accounts (`signup_reveals_existing`, then `Conflict` `email_taken`), the two cases look the
    same from outside, in time too: the password is hashed either way.
    """
    email, name = check_new_account(deps, email=email, password=password, name=name)
    _limit(deps, "user.signup", email, ip_address)
    password_hash = deps.passwords.hash(password)
    existing = uow.users.get_by_email(email)
    if existing is not None:
        if deps.policy.signup_reveals_existing:
            raise Conflict("an account with this email exists", code="email_taken")
        send_reset_link(uow, deps, existing, deps.composer.existing_account_email)
        uow.audit.append(
            _anonymous("user.signup", Outcome.FAILURE, email, existing), at=deps.clock.now()
        )
        return None
    verified = not deps.policy.require_verified_email
    user = add_user(
        uow, deps, email=email, name=name, password_hash=password_hash, verified=verified
    )
    uow.audit.append(account_event(user.id, "user.signup"), at=user.created_at)
    return user


def request_password_reset(
    uow: UnitOfWork, deps: ServiceDeps, *, email: str, ip_address: str | None = None
) -> None:
    """Mail a reset link to the address if it has an account; always succeeds."""
    email = normalise_email(email)
    _limit(deps, "user.password_reset_request", email, ip_address)
    user = uow.users.get_by_email(email)
    if user is None:
        # Recorded for the security log, and so that both answers cost a committed write.
        failed = _anonymous("user.password_reset_request", Outcome.FAILURE, email, None)
        uow.audit.append(failed, at=deps.clock.now())
        return
    send_reset_link(uow, deps, user, deps.composer.password_reset_email)
    uow.audit.append(
        account_event(user.id, "user.password_reset_request", actor_type=ActorType.ANONYMOUS),
        at=deps.clock.now(),
    )


def resend_verification(
    uow: UnitOfWork, deps: ServiceDeps, *, email: str, ip_address: str | None = None
) -> None:
    """Mail a new verification link to the address if it has an account that is not verified
    yet (earlier links keep working until they expire); always succeeds."""
    email = normalise_email(email)
    _limit(deps, "user.verification_resend", email, ip_address)
    user = uow.users.get_by_email(email)
    if user is None or user.is_verified:
        # As a reset request for an unknown email: on record, and a committed write either way.
        failed = _anonymous("user.verification_resend", Outcome.FAILURE, email, user)
        uow.audit.append(failed, at=deps.clock.now())
        return
    send_verification(uow, deps, user, deps.clock.now())
    uow.audit.append(
        account_event(user.id, "user.verification_resend", actor_type=ActorType.ANONYMOUS),
        at=deps.clock.now(),
    )


def _limit(deps: ServiceDeps, action: str, email: str, ip_address: str | None) -> None:
    wait = deps.throttle.begin_mail_request(email=email, ip_address=ip_address)
    if wait is not None:
        raise RateLimited(
            "too many requests for this email address or from this client; try again later",
            retry_after=wait,
            audit=_anonymous(action, Outcome.DENIED, email, None, reason="rate_limited"),
        )


def _anonymous(
    action: str,
    outcome: Outcome,
    email: str,
    user: User | None,
    *,
    reason: str | None = None,
) -> AuditDraft:
    """An event of someone not signed in, about the address (and its account, if known)."""
    if reason is None and outcome is Outcome.FAILURE:
        reason = "unknown_email" if user is None else _REASON_FOR_AN_ACCOUNT[action]
    return AuditDraft(
        event_type=EventType.USER_MANAGEMENT,
        action=action,
        outcome=outcome,
        actor_type=ActorType.ANONYMOUS,
        resource_type="user" if user else None,
        resource_id=user.id if user else None,
        reason=reason,
        details={"email": email},
    )


# Why a request about an address that has an account did not do what it asked.
_REASON_FOR_AN_ACCOUNT = {
    "user.signup": "email_taken",
    "user.verification_resend": "already_verified",
}
