"""Sessions and bearer tokens: logout, logout everywhere, session list and revoke, and the
check every authenticated request makes (`authenticate`)."""

from __future__ import annotations

from tenantry.context import ServiceDeps
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import NotFound, Unauthenticated
from tenantry.domain.ids import hash_secret
from tenantry.domain.model import Session
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
    now = deps.clock.now()
    count = uow.sessions.revoke_all_for_user(principal.user_id, at=now, reason="logout_everywhere")
    uow.audit.append(
        auth_event(
            "auth.logout_everywhere", Outcome.SUCCESS, principal.user_id, None, sessions=count
        ),
        at=now,
    )
    return count


def list_sessions(uow: UnitOfWork, deps: ServiceDeps, principal: Principal) -> list[Session]:
    return uow.sessions.list_live_for_user(principal.user_id, deps.clock.now())


def revoke_session(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, session_id: str
) -> None:
    now = deps.clock.now()
    session = uow.sessions.get(session_id)
    if session is None or session.user_id != principal.user_id or not session.is_live(now):
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
    try:
        claims = deps.signer.verify_access_token(token)
    except Unauthenticated as error:
        error.audit = auth_event("auth.token", Outcome.FAILURE, None, error.code)
        raise
    uow.bind(org_id=claims.org_id, user_id=claims.user_id)
    session = uow.sessions.get(claims.session_id)
    if session is None or not session.is_live(deps.clock.now()):
        raise _token_revoked(claims, "session_ended")
    if claims.org_id is None:
        return Principal(user_id=claims.user_id, session_id=session.id)
    membership, problem = membership_check(uow, claims.user_id, claims.org_id)
    if membership is None:
        raise _token_revoked(claims, problem or "membership_ended")
    return Principal(
        user_id=claims.user_id,
        session_id=session.id,
        org_id=claims.org_id,
        org_role=membership.org_role,
    )


def _token_revoked(claims: AccessClaims, reason: str) -> Unauthenticated:
    return Unauthenticated(
        "the token is no longer valid",
        code="token_revoked",
        audit=auth_event(
            "auth.token", Outcome.FAILURE, claims.user_id, reason, org_id=claims.org_id
        ),
    )
