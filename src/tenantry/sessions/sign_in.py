"""Sign-in: login, and refresh with rotation, reuse detection and switching organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tenantry.accounts.email_address import normalise_email
from tenantry.context import ServiceDeps
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import Forbidden, RateLimited, Unauthenticated
from tenantry.domain.ids import hash_secret, new_id, new_secret_token
from tenantry.domain.model import (
    Membership,
    RefreshToken,
    Session,
    User,
)
from tenantry.organisations.access import active_membership
from tenantry.sessions.attempts import attempt_password
from tenantry.sessions.events import auth_event
from tenantry.sessions.ports import AccessClaims, AttemptPurpose, ThrottleLimit
from tenantry.sessions.service import evict_oldest_sessions
from tenantry.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    org_id: str | None


def login(
    uow: UnitOfWork,
    deps: ServiceDeps,
    *,
    email: str,
    password: str,
    org_id: str | None,
    client: ClientInfo,
) -> TokenPair:
    email = normalise_email(email)

    def too_many(wait: int, limit: ThrottleLimit) -> RateLimited:
        return RateLimited(
            "too many failed sign-in attempts",
            retry_after=wait,
            audit=auth_event(
                "auth.login", Outcome.DENIED, None, "rate_limited", email=email, limit=limit.value
            ),
        )

    return attempt_password(
        uow,
        deps,
        email=email,
        ip_address=client.ip_address,
        purpose=AttemptPurpose.LOGIN,
        refused=too_many,
        check=lambda: _sign_in(uow, deps, email, password, org_id, client),
    )


def _sign_in(
    uow: UnitOfWork,
    deps: ServiceDeps,
    email: str,
    password: str,
    org_id: str | None,
    client: ClientInfo,
) -> TokenPair:
    user = _check_credentials(uow, deps, email, password, client)
    if deps.policy.require_verified_email and not user.is_verified:
        raise Forbidden(
            "verify your email address first",
            code="email_not_verified",
            audit=auth_event("auth.login", Outcome.FAILURE, user.id, "email_not_verified"),
        )
    deps.throttle.record_success(email=email, ip_address=client.ip_address)
    uow.bind(user_id=user.id)
    if deps.passwords.needs_rehash(user.password_hash):
        new_hash = deps.passwords.hash(password)
        uow.users.set_password_hash(user.id, new_hash, expected_hash=user.password_hash)
    membership = _active_membership_or_raise(uow, user.id, org_id) if org_id else None
    pair = start_session(uow, deps, user, membership, client)
    uow.audit.append(
        auth_event(
            "auth.login", Outcome.SUCCESS, user.id, None, org_id=org_id, session_id=pair.session_id
        ),
        at=deps.clock.now(),
    )
    return pair


def _check_credentials(
    uow: UnitOfWork, deps: ServiceDeps, email: str, password: str, client: ClientInfo
) -> User:
    user = uow.users.get_by_email(email)
    if user is None:
        deps.passwords.burn(password)
    elif deps.passwords.verify(user.password_hash, password):
        return user
    deps.throttle.record_failure(email=email, ip_address=client.ip_address)
    # Same status, body and (thanks to `burn`) time for an unknown email and a wrong password.
    raise Unauthenticated(
        "invalid email or password",
        code="invalid_credentials",
        audit=auth_event(
            "auth.login",
            Outcome.FAILURE,
            user.id if user else None,
            "wrong_password" if user else "unknown_email",
            email=email,
        ),
    )


def refresh(
    uow: UnitOfWork,
    deps: ServiceDeps,
    *,
    refresh_token: str,
    org_id: str | None,
) -> TokenPair:
    now = deps.clock.now()
    record, session = _refresh_record_or_raise(uow, refresh_token)
    uow.bind(user_id=session.user_id)
    if record.used_at is not None:
        raise _reuse_detected(session, now)
    user = uow.users.get(session.user_id)
    if user is None or not session.is_live(now, user.session_epoch) or record.expires_at <= now:
        raise _session_ended(session)
    if org_id:
        membership: Membership | None = _active_membership_or_raise(uow, session.user_id, org_id)
    elif session.org_id:
        # The organisation the session was switched to may have gone (deleted, membership
        # ended): the session carries on without it, visibly (`organisation_id` is null).
        membership = active_membership(uow, session.user_id, session.org_id)
    else:
        membership = None
    target_org = membership.org_id if membership else None
    # A concurrent refresh that won the rotation makes this one a reuse; a logout that
    # committed meanwhile ends it. Both surface at commit.
    uow.refresh_tokens.mark_used(record.id, now, on_conflict=_reuse_detected(session, now))
    pair = _rotate(uow, deps, session, record, membership, now)
    uow.audit.append(
        auth_event(
            "auth.refresh",
            Outcome.SUCCESS,
            session.user_id,
            None,
            org_id=target_org,
            session_id=pair.session_id,
        ),
        at=now,
    )
    return pair


def _refresh_record_or_raise(uow: UnitOfWork, token: str) -> tuple[RefreshToken, Session]:
    record = uow.refresh_tokens.get_by_hash(hash_secret(token))
    session = uow.sessions.get(record.session_id) if record else None
    if record is None or session is None:
        raise Unauthenticated(
            "refresh token is not valid",
            code="invalid_refresh_token",
            audit=auth_event("auth.refresh", Outcome.FAILURE, None, "unknown_refresh_token"),
        )
    return record, session


def _session_ended(session: Session) -> Unauthenticated:
    return Unauthenticated(
        "session has ended",
        code="session_ended",
        audit=auth_event("auth.refresh", Outcome.FAILURE, session.user_id, "session_ended"),
    )


def _reuse_detected(session: Session, now: datetime) -> Unauthenticated:
    """A rotated token came back: someone holds a copy. End the whole family."""

    def revoke_family(uow: UnitOfWork) -> None:
        uow.sessions.revoke(session.id, at=now, reason="refresh_token_reuse")

    return Unauthenticated(
        "refresh token has already been used; the session is revoked",
        code="refresh_token_reused",
        audit=auth_event(
            "auth.refresh",
            Outcome.DENIED,
            session.user_id,
            "refresh_token_reuse",
            session_id=session.id,
        ),
        aftermath=revoke_family,
    )


def _rotate(
    uow: UnitOfWork,
    deps: ServiceDeps,
    session: Session,
    parent: RefreshToken,
    membership: Membership | None,
    now: datetime,
) -> TokenPair:
    org_id = membership.org_id if membership else None
    uow.sessions.record_use(session.id, at=now, org_id=org_id, on_conflict=_session_ended(session))
    secret = _add_refresh_token(uow, session.id, parent.id, now, session.expires_at)
    return _pair(deps, session.user_id, session.id, membership, secret, now)


def start_session(
    uow: UnitOfWork,
    deps: ServiceDeps,
    user: User,
    membership: Membership | None,
    client: ClientInfo,
) -> TokenPair:
    """A new session for `user` (in `membership`'s organisation, if given) and its token
    pair: a sign-in starts one, and so does an accepted invitation."""
    now = deps.clock.now()
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        epoch=user.session_epoch,
        org_id=membership.org_id if membership else None,
        created_at=now,
        last_used_at=now,
        expires_at=now + deps.policy.refresh_token_ttl,
        user_agent=(client.user_agent or "")[:400] or None,
        ip_address=client.ip_address,
    )
    evict_oldest_sessions(uow, deps, user)  # room for this one under the cap
    uow.sessions.add(session)
    secret = _add_refresh_token(uow, session.id, None, now, session.expires_at)
    return _pair(deps, user.id, session.id, membership, secret, now)


def _add_refresh_token(
    uow: UnitOfWork, session_id: str, parent_id: str | None, now: datetime, expires_at: datetime
) -> str:
    secret = "rt_" + new_secret_token()
    uow.refresh_tokens.add(
        RefreshToken(
            id=new_id("rtk"),
            session_id=session_id,
            token_hash=hash_secret(secret),
            parent_id=parent_id,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    return secret


def _pair(
    deps: ServiceDeps,
    user_id: str,
    session_id: str,
    membership: Membership | None,
    refresh_secret: str,
    now: datetime,
) -> TokenPair:
    ttl = deps.policy.access_token_ttl
    claims = AccessClaims(
        user_id=user_id,
        session_id=session_id,
        token_id=new_id("at"),
        issued_at=now,
        expires_at=now + ttl,
        org_id=membership.org_id if membership else None,
        org_role=membership.org_role if membership else None,
    )
    return TokenPair(
        access_token=deps.signer.issue_access_token(claims),
        refresh_token=refresh_secret,
        expires_in=int(ttl.total_seconds()),
        session_id=session_id,
        org_id=claims.org_id,
    )


def _active_membership_or_raise(uow: UnitOfWork, user_id: str, org_id: str) -> Membership:
    """The membership an org-scoped token is issued for, checked again at commit."""
    membership = active_membership(uow, user_id, org_id)
    if membership is None:
        raise _not_a_member(user_id, org_id)
    uow.memberships.require_active(org_id, user_id, on_conflict=_not_a_member(user_id, org_id))
    return membership


def _not_a_member(user_id: str, org_id: str) -> Forbidden:
    return Forbidden(
        "you are not a member of this organisation",
        code="not_a_member",
        audit=auth_event(
            "auth.organisation_token", Outcome.DENIED, user_id, "not_a_member", target_org=org_id
        ),
    )
