"""Accounts: the operator's `create_user` (sign-up is in `mail_requests`), email verification,
password change and password reset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from tenantry.accounts.email_address import check_new_account_email, normalise_email
from tenantry.context import AccountPolicy, ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Forbidden, Gone, Invalid, NotFound, RateLimited
from tenantry.domain.ids import hash_secret, new_id, new_secret_token
from tenantry.domain.model import EmailMessage, OneTimeToken, TokenPurpose, User
from tenantry.domain.names import clean_name
from tenantry.domain.principal import Principal
from tenantry.sessions.attempts import attempt_password
from tenantry.sessions.ports import AttemptPurpose, ThrottleLimit
from tenantry.sessions.service import live_sessions
from tenantry.unit_of_work import UnitOfWork


def check_password_strength(password: str, policy: AccountPolicy) -> None:
    if len(password) < policy.min_password_length:
        raise Invalid(
            f"password must have at least {policy.min_password_length} characters",
            code="weak_password",
        )
    if len(password) > policy.max_password_length:
        raise Invalid("password is too long", code="weak_password")


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
    email, name = check_new_account(deps, email=email, password=password, name=name)
    password_hash = deps.passwords.hash(password)
    user = add_user(
        uow, deps, email=email, name=name, password_hash=password_hash, verified=verified
    )
    event = replace(
        account_event(actor.user_id, "user.create", resource_id=user.id),
        actor_type=actor.actor_type,
    )
    uow.audit.append(event, at=user.created_at)
    return user


def get_user_by_email_or_raise(uow: UnitOfWork, email: str) -> User:
    user = uow.users.get_by_email(normalise_email(email))
    if user is None:
        raise NotFound("no user has this email", code="user_not_found")
    return user


USER_ID_PREFIX = "usr_"


def resolve_user(uow: UnitOfWork, ref: str) -> User:
    """The user `ref` names, by its id (`usr_…`) or its email; else 404 `user_not_found`."""
    if ref.startswith(USER_ID_PREFIX):
        return _user_or_raise(uow, ref)
    return get_user_by_email_or_raise(uow, ref)


def check_new_account(
    deps: ServiceDeps, *, email: str, password: str, name: str
) -> tuple[str, str]:
    """The email and name a new account would have, or the refusal of bad input: the one
    check of every edge that makes accounts (HTTP sign-up, the CLI's `user create`)."""
    email = normalise_email(email)
    check_new_account_email(email, deps.policy)
    check_password_strength(password, deps.policy)
    return email, clean_name(name)


def add_user(
    uow: UnitOfWork,
    deps: ServiceDeps,
    *,
    email: str,
    name: str,
    password_hash: str,
    verified: bool,
) -> User:
    """Add an account made of checked input (`check_new_account`); an unverified one is sent
    its verification link. Its email must still be free at commit (`email_taken`)."""
    now = deps.clock.now()
    user = User(
        id=new_id("usr"),
        email=email,
        name=name,
        password_hash=password_hash,
        created_at=now,
        email_verified_at=now if verified else None,
    )
    uow.bind(user_id=user.id)
    uow.users.add(user)
    if not verified:
        send_verification(uow, deps, user, now)
    return user


def send_verification(uow: UnitOfWork, deps: ServiceDeps, user: User, now: datetime) -> None:
    token = _issue_one_time_token(
        uow, user.id, TokenPurpose.VERIFY_EMAIL, now, deps.policy.email_token_ttl
    )
    uow.outbox.add(deps.composer.verification_email(user, token), at=now)


def verify_email(uow: UnitOfWork, deps: ServiceDeps, *, token: str) -> User:
    now = deps.clock.now()
    record = _redeem_one_time_token(uow, token, TokenPurpose.VERIFY_EMAIL, now)
    user = _user_or_raise(uow, record.user_id)
    uow.users.mark_verified(user.id, now)
    uow.audit.append(account_event(user.id, "user.verify_email", resource_id=user.id), at=now)
    return replace(user, email_verified_at=user.email_verified_at or now)


def get_account(uow: UnitOfWork, deps: ServiceDeps, principal: Principal) -> User:
    return _user_or_raise(uow, principal.user_id)


def change_password(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    *,
    current: str,
    new: str,
    ip_address: str | None = None,
) -> None:
    user = _user_or_raise(uow, principal.user_id)

    def too_many(wait: int, limit: ThrottleLimit) -> RateLimited:
        return RateLimited(
            "too many failed password attempts",
            retry_after=wait,
            audit=account_event(
                user.id,
                "user.password_change",
                Outcome.DENIED,
                reason="rate_limited",
                details={"limit": limit.value},
            ),
        )

    # A stolen access token must not become a password oracle: wrong current passwords are
    # throttled like logins, in a pair limit of their own, so they never lock the owner's login.
    attempt_password(
        uow,
        deps,
        email=user.email,
        ip_address=ip_address,
        purpose=AttemptPurpose.PASSWORD_CHANGE,
        refused=too_many,
        check=lambda: _change_password(uow, deps, principal, user, current, new, ip_address),
    )


def _change_password(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    user: User,
    current: str,
    new: str,
    ip_address: str | None,
) -> None:
    now = deps.clock.now()
    if not deps.passwords.verify(user.password_hash, current):
        # 403, not 401: the bearer token is fine, and a 401 would make clients sign out.
        raise Forbidden(
            "current password is wrong",
            code="invalid_current_password",
            audit=account_event(
                user.id, "user.password_change", Outcome.FAILURE, reason="wrong_current_password"
            ),
        )
    deps.throttle.record_success(
        email=user.email, ip_address=ip_address, purpose=AttemptPurpose.PASSWORD_CHANGE
    )
    check_password_strength(new, deps.policy)
    uow.users.set_password_hash(user.id, deps.passwords.hash(new), expected_hash=user.password_hash)
    # Other devices must sign in again: a new session epoch ends their sessions, and the
    # session making the change is carried into it.
    uow.users.bump_session_epoch(user.id, expected=user.session_epoch)
    if principal.session_id is not None:
        uow.sessions.set_epoch(principal.session_id, user.session_epoch + 1)
    uow.outbox.add(deps.composer.password_changed_email(user), at=now)
    uow.audit.append(account_event(user.id, "user.password_change", resource_id=user.id), at=now)


def send_reset_link(
    uow: UnitOfWork,
    deps: ServiceDeps,
    user: User,
    compose: Callable[[User, str], EmailMessage],
) -> None:
    """Mail `user` a new password-reset link in the email `compose` makes of it."""
    now = deps.clock.now()
    # The newest link is the only one that works: older ones belong to an older reset epoch.
    epoch = user.reset_epoch + 1
    uow.users.set_reset_epoch(user.id, epoch)
    token = _issue_one_time_token(
        uow, user.id, TokenPurpose.RESET_PASSWORD, now, deps.policy.reset_token_ttl, epoch=epoch
    )
    uow.outbox.add(compose(user, token), at=now)


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
        account_event(
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
    used = _link_gone(record, "the link has already been used", "token_used")
    if record.used_at is not None:
        raise used
    if record.expires_at <= now:
        raise _link_gone(record, "the link has expired", "token_expired")
    # Used by a racer since it was read: the same answer as a link used before.
    uow.one_time_tokens.mark_used(record.id, now, on_conflict=used)
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


def account_event(
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
