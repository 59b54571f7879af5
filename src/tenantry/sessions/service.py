"""Sessions and bearer tokens: logout, logout everywhere, session list and revoke, the cap on
sessions a user keeps, and the check every authenticated request makes (`authenticate`)."""

from __future__ import annotations

from datetime import datetime

from tenantry.context import ServiceDeps
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import NotFound, Unauthenticated
from tenantry.domain.ids import hash_secret
from tenantry.domain.model import Page, Session, User
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.organisations.access import membership_check
from tenantry.sessions.events import auth_event
from tenantry.sessions.ports import AccessClaims
from tenantry.unit_of_work import UnitOfWork


def logout(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, *, refresh_token: str | None = None
) -> None:
    """End the bearer's session, and the session of `refresh_token` if it is another of the
    caller's own (a client that kept a refresh token from an older sign-in)."""
    now = deps.clock.now()
    ended = [principal.session_id] if principal.session_id else []
    record = uow.refresh_tokens.get_by_hash(hash_secret(refresh_token)) if refresh_token else None
    owner = uow.sessions.get(record.session_id) if record else None
    if owner is not None and owner.user_id != principal.user_id:
        # Someone else's token: their session is left alone, and the attempt is on record.
        denied = auth_event(
            "auth.logout",
            Outcome.DENIED,
            principal.user_id,
            "not_your_session",
            session_id=owner.id,
        )
        uow.audit.append(denied, at=now)
    elif owner is not None and owner.id not in ended:
        ended.append(owner.id)
    for session_id in ended:
        uow.sessions.revoke(session_id, at=now, reason="logout")
        event = auth_event(
            "auth.logout", Outcome.SUCCESS, principal.user_id, None, session_id=session_id
        )
        uow.audit.append(event, at=now)


def logout_everywhere(uow: UnitOfWork, deps: ServiceDeps, principal: Principal) -> int:
    """End every session of the caller's, theirs included, by a new session epoch."""
    now = deps.clock.now()
    user = _user_or_raise(uow, principal.user_id)
    count = len(live_sessions(uow, user, now))
    uow.users.bump_session_epoch(user.id, expected=user.session_epoch)
    uow.audit.append(
        auth_event(
            "auth.logout_everywhere", Outcome.SUCCESS, principal.user_id, None, sessions=count
        ),
        at=now,
    )
    return count


def list_sessions(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Session]:
    """One page of the caller's live sessions, newest first."""
    check_page_size(limit)
    user = _user_or_raise(uow, principal.user_id)
    return uow.sessions.list_live_for_user(
        user.id, now=deps.clock.now(), min_epoch=user.session_epoch, limit=limit, cursor=cursor
    )


def live_sessions(uow: UnitOfWork, user: User, now: datetime) -> list[Session]:
    """Every live session of the user, newest first (as many pages as it takes: sign-in keeps
    them under `max_sessions_per_user`, one page in steady state)."""
    found: list[Session] = []
    cursor: str | None = None
    while True:
        page = uow.sessions.list_live_for_user(
            user.id, now=now, min_epoch=user.session_epoch, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


# Revocations one sign-in may write: the unit of work stays bounded (DynamoDB takes 100 items)
# even when the cap was lowered far below what a user holds; later sign-ins evict the rest.
MAX_EVICTIONS_PER_SIGN_IN = 20


def evict_oldest_sessions(uow: UnitOfWork, deps: ServiceDeps, user: User) -> list[str]:
    """Make room for the session a sign-in is starting: revoke the user's oldest live
    sessions beyond the newest `max_sessions_per_user - 1`, each audited as
    `auth.session_evicted`. One in steady state; at most `MAX_EVICTIONS_PER_SIGN_IN`.

    Revoking is idempotent and has no precondition, so sign-ins racing each other may leave
    the user over the cap by the racers' sessions until the next sign-in.
    """
    now = deps.clock.now()
    cap = deps.policy.max_sessions_per_user
    excess = live_sessions(uow, user, now)[cap - 1 :]
    evicted = [session.id for session in excess[-MAX_EVICTIONS_PER_SIGN_IN:]]
    for session_id in evicted:
        uow.sessions.revoke(session_id, at=now, reason="evicted")
        event = auth_event(
            "auth.session_evicted",
            Outcome.SUCCESS,
            user.id,
            "session_limit",
            session_id=session_id,
            limit=cap,
        )
        uow.audit.append(event, at=now)
    return evicted


def revoke_session(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, session_id: str
) -> None:
    now = deps.clock.now()
    session = uow.sessions.get(session_id)
    user = _user_or_raise(uow, principal.user_id)
    if (
        session is None
        or session.user_id != principal.user_id
        or not session.is_live(now, user.session_epoch)
    ):
        # Someone else's session looks exactly like a missing one, and the attempt is on record.
        raise NotFound(
            "session not found",
            code="session_not_found",
            audit=auth_event(
                "auth.session_revoke",
                Outcome.DENIED,
                principal.user_id,
                "session_not_found",
                session_id=session_id,
            ),
        )
    uow.sessions.revoke(session_id, at=now, reason="revoked_by_user")
    uow.audit.append(
        auth_event(
            "auth.session_revoke", Outcome.SUCCESS, principal.user_id, None, session_id=session_id
        ),
        at=now,
    )


def authenticate(uow: UnitOfWork, deps: ServiceDeps, token: str) -> Principal:
    """Verify a bearer token and check that its session and membership are still live."""
    claims = verified_claims(deps, token)
    uow.bind(org_id=claims.org_id, user_id=claims.user_id)
    session, problem = live_session(uow, deps, claims)
    if session is None:
        raise _token_revoked(claims, problem or "session_ended")
    if claims.org_id is None:
        return Principal(user_id=claims.user_id, session_id=session.id)
    standing, problem = membership_check(uow, claims.user_id, claims.org_id)
    if standing is None:
        raise _token_revoked(claims, problem or "membership_ended")
    return Principal(
        user_id=claims.user_id,
        session_id=session.id,
        org_id=claims.org_id,
        org_role=standing.membership.org_role,
        standing=standing,
    )


def verified_claims(deps: ServiceDeps, token: str) -> AccessClaims:
    """The claims of a token tenantry signed; else `Unauthenticated`, audited."""
    try:
        return deps.signer.verify_access_token(token)
    except Unauthenticated as error:
        error.audit = auth_event("auth.token", Outcome.FAILURE, None, error.code)
        raise


def live_session(
    uow: UnitOfWork, deps: ServiceDeps, claims: AccessClaims
) -> tuple[Session | None, str | None]:
    """The token's session if it still holds, else None and why (`session_ended_because`)."""
    session = uow.sessions.get(claims.session_id)
    user = uow.users.get(claims.user_id)
    epoch = user.session_epoch if user is not None else None
    reason = session_ended_because(session, epoch, claims, deps.clock.now())
    return (session, None) if reason is None else (None, reason)


def session_ended_because(
    session: Session | None, user_session_epoch: int | None, claims: AccessClaims, now: datetime
) -> str | None:
    """None if the token's session holds; else `session_ended` (gone, revoked, expired, or
    of an older session epoch of its user, given as None when the user is gone) or
    `session_switched` (moved to another organisation since the token was issued: a token
    is good only for the organisation its session is in now)."""
    if (
        session is None
        or user_session_epoch is None
        or session.user_id != claims.user_id
        or not session.is_live(now, user_session_epoch)
    ):
        return "session_ended"
    if session.org_id != claims.org_id and claims.org_id is not None:
        return "session_switched"
    return None


def _token_revoked(claims: AccessClaims, reason: str) -> Unauthenticated:
    return Unauthenticated(
        "the token is no longer valid",
        code="token_revoked",
        audit=auth_event(
            "auth.token", Outcome.FAILURE, claims.user_id, reason, org_id=claims.org_id
        ),
    )


def _user_or_raise(uow: UnitOfWork, user_id: str) -> User:
    user = uow.users.get(user_id)
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user
