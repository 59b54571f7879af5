"""Accounts: sign-up, email verification, password change and password reset."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from tenantry.context import AccountPolicy, ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Forbidden, Gone, Invalid, NotFound, RateLimited
from tenantry.domain.ids import hash_secret, new_id, new_secret_token
from tenantry.domain.model import OneTimeToken, TokenPurpose, User
from tenantry.domain.names import clean_name
from tenantry.domain.principal import Principal
from tenantry.sessions.service import live_sessions
from tenantry.unit_of_work import UnitOfWork


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str, policy: AccountPolicy) -> None:
    if len(password) < policy.min_password_length:
        raise Invalid(
            f"password must have at least {policy.min_password_length} characters",
            code="weak_password",
        )
    if len(password) > policy.max_password_length:
        raise Invalid("password is too long", code="weak_password")


def signup(uow: UnitOfWork, deps: ServiceDeps, *, email: str, password: str, name: str) -> User:
    verified = not deps.policy.require_verified_email
    user = _add_user(uow, deps, email=email, password=password, name=name, verified=verified)
    uow.audit.append(_account_event(user.id, "user.signup"), at=user.created_at)
    return user


def create_user(
    uow: UnitOfWork,
    deps: ServiceDeps,
    actor: Principal,
    *,
    email: str,
    password: str,
    name: str,
    verified: bool,
) -> User:
    """An operator creates an account (CLI); unverified accounts still get the email."""
    user = _add_user(uow, deps, email=email, password=password, name=name, verified=verified)
    event = replace(
        _account_event(actor.user_id, "user.create", resource_id=user.id),
        actor_type=actor.actor_type,
    )
    uow.audit.append(event, at=user.created_at)
    return user


def get_user_by_email_or_raise(uow: UnitOfWork, email: str) -> User:
    user = uow.users.get_by_email(normalise_email(email))
    if user is None:
        raise NotFound("no user has this email", code="user_not_found")
    return user


def _add_user(
    uow: UnitOfWork, deps: ServiceDeps, *, email: str, password: str, name: str, verified: bool
) -> User:
    check_password_strength(password, deps.policy)
    now = deps.clock.now()
    user = User(
        id=new_id("usr"),
        email=normalise_email(email),
        name=clean_name(name),
        password_hash=deps.passwords.hash(password),
        created_at=now,
        email_verified_at=now if verified else None,
    )
    uow.bind(user_id=user.id)
    uow.users.add(user)
    if not verified:
        _send_verification(uow, deps, user, now)
    return user


def _send_verification(uow: UnitOfWork, deps: ServiceDeps, user: User, now: datetime) -> None:
    token = _issue_one_time_token(
        uow, user.id, TokenPurpose.VERIFY_EMAIL, now, deps.policy.email_token_ttl
    )
    uow.outbox.add(deps.composer.verification_email(user, token), at=now)


def verify_email(uow: UnitOfWork, deps: ServiceDeps, *, token: str) -> User:
    now = deps.clock.now()
    record = _redeem_one_time_token(uow, token, TokenPurpose.VERIFY_EMAIL, now)
    user = _user_or_raise(uow, record.user_id)
    uow.users.mark_verified(user.id, now)
    uow.audit.append(_account_event(user.id, "user.verify_email", resource_id=user.id), at=now)
    return replace(user, email_verified_at=user.email_verified_at or now)


def get_account(uow: UnitOfWork, deps: ServiceDeps, principal: Principal) -> User:
    return _user_or_raise(uow, principal.user_id)


def change_password(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, *, current: str, new: str
) -> None:
    now = deps.clock.now()
    user = _user_or_raise(uow, principal.user_id)
    # A stolen access token must not become a password oracle: wrong current passwords count
    # against the same per-account limit as failed logins.
    wait = deps.throttle.begin_attempt(email=user.email, ip_address=None)
    if wait is not None:
        raise RateLimited(
            "too many failed password attempts",
            retry_after=wait,
            audit=_account_event(
                user.id, "user.password_change", Outcome.DENIED, reason="rate_limited"
            ),
        )
    if not deps.passwords.verify(user.password_hash, current):
        # 403, not 401: the bearer token is fine, and a 401 would make clients sign out.
        raise Forbidden(
            "current password is wrong",
            code="invalid_current_password",
            audit=_account_event(
                user.id, "user.password_change", Outcome.FAILURE, reason="wrong_current_password"
            ),
        )
    deps.throttle.reset(email=user.email)
    check_password_strength(new, deps.policy)
    uow.users.set_password_hash(user.id, deps.passwords.hash(new), expected_hash=user.password_hash)
    # Other devices must sign in again: a new session epoch ends their sessions, and the
    # session making the change is carried into it.
    uow.users.bump_session_epoch(user.id, expected=user.session_epoch)
    if principal.session_id is not None:
        uow.sessions.set_epoch(principal.session_id, user.session_epoch + 1)
    uow.outbox.add(deps.composer.password_changed_email(user), at=now)
    uow.audit.append(_account_event(user.id, "user.password_change", resource_id=user.id), at=now)


def request_password_reset(uow: UnitOfWork, deps: ServiceDeps, *, email: str) -> None:
    """Always succeeds, so the answer says nothing about which emails have accounts."""
    now = deps.clock.now()
    email = normalise_email(email)
    user = uow.users.get_by_email(email)
    if user is None:
        # Recorded for the security log, and so that both answers cost a committed write.
        uow.audit.append(
            AuditDraft(
                event_type=EventType.USER_MANAGEMENT,
                action="user.password_reset_request",
                outcome=Outcome.FAILURE,
                actor_type=ActorType.ANONYMOUS,
                reason="unknown_email",
                details={"email": email},
            ),
            at=now,
        )
        return
    # The newest link is the only one that works: older ones belong to an older reset epoch.
    epoch = user.reset_epoch + 1
    uow.users.set_reset_epoch(user.id, epoch)
    token = _issue_one_time_token(
        uow, user.id, TokenPurpose.RESET_PASSWORD, now, deps.policy.reset_token_ttl, epoch=epoch
    )
    uow.outbox.add(deps.composer.password_reset_email(user, token), at=now)
    uow.audit.append(
        _account_event(user.id, "user.password_reset_request", actor_type=ActorType.ANONYMOUS),
        at=now,
    )


def confirm_password_reset(
    uow: UnitOfWork, deps: ServiceDeps, *, token: str, new_password: str
) -> None:
    now = deps.clock.now()
    check_password_strength(new_password, deps.policy)
    record = _redeem_one_time_token(uow, token, TokenPurpose.RESET_PASSWORD, now)
    user = _user_or_raise(uow, record.user_id)
    if record.epoch < user.reset_epoch:
        raise _link_gone(record, "the link has expired", "token_expired")  # a newer one was sent
    revoked = len(live_sessions(uow, user, now))
    uow.users.set_password_hash(
        user.id, deps.passwords.hash(new_password), expected_hash=user.password_hash
    )
    if not user.is_verified:
        uow.users.mark_verified(user.id, now)  # the reset link proved the mailbox
    uow.users.bump_session_epoch(user.id, expected=user.session_epoch)  # every session ends
    deps.throttle.reset(email=user.email)  # the mailbox owner may sign in again at once
    uow.outbox.add(deps.composer.password_changed_email(user), at=now)
    uow.audit.append(
        _account_event(
            user.id,
            "user.password_reset",
            resource_id=user.id,
            details={"sessions_revoked": revoked},
        ),
        at=now,
    )


def _issue_one_time_token(
    uow: UnitOfWork,
    user_id: str,
    purpose: TokenPurpose,
    now: datetime,
    ttl: timedelta,
    *,
    epoch: int = 0,
) -> str:
    secret = new_secret_token()
    uow.one_time_tokens.add(
        OneTimeToken(
            id=new_id("ott"),
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_secret(secret),
            created_at=now,
            expires_at=now + ttl,
            epoch=epoch,
        )
    )
    return secret


_ACTION_BY_PURPOSE = {
    TokenPurpose.VERIFY_EMAIL: "user.verify_email",
    TokenPurpose.RESET_PASSWORD: "user.password_reset",
}


def _redeem_one_time_token(
    uow: UnitOfWork, token: str, purpose: TokenPurpose, now: datetime
) -> OneTimeToken:
    record = uow.one_time_tokens.get_by_hash(hash_secret(token))
    if record is None or record.purpose is not purpose:
        raise Invalid(
            "the link is not valid",
            code="invalid_token",
            audit=_link_refused(purpose, None, "invalid_token"),
        )
    uow.bind(user_id=record.user_id)
    if record.used_at is not None:
        raise _link_gone(record, "the link has already been used", "token_used")
    if record.expires_at <= now:
        raise _link_gone(record, "the link has expired", "token_expired")
    uow.one_time_tokens.mark_used(record.id, now)
    return record


def _link_gone(record: OneTimeToken, detail: str, code: str) -> Gone:
    return Gone(detail, code=code, audit=_link_refused(record.purpose, record.user_id, code))


def _link_refused(purpose: TokenPurpose, user_id: str | None, reason: str) -> AuditDraft:
    """Whoever follows a link is not signed in; the event names the account it was for."""
    return AuditDraft(
        event_type=EventType.USER_MANAGEMENT,
        action=_ACTION_BY_PURPOSE[purpose],
        outcome=Outcome.FAILURE,
        actor_id=user_id,
        actor_type=ActorType.ANONYMOUS,
        resource_type="user",
        resource_id=user_id,
        reason=reason,
    )


def _user_or_raise(uow: UnitOfWork, user_id: str) -> User:
    user = uow.users.get(user_id)
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user


def _account_event(
    user_id: str,
    action: str,
    outcome: Outcome = Outcome.SUCCESS,
    *,
    resource_id: str | None = None,
    reason: str | None = None,
    actor_type: ActorType = ActorType.USER,
    details: dict[str, object] | None = None,
) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.USER_MANAGEMENT,
        action=action,
        outcome=outcome,
        actor_id=user_id,
        actor_type=actor_type,
        resource_type="user",
        resource_id=resource_id or user_id,
        reason=reason,
        details=dict(details or {}),
    )
