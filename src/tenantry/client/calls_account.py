"""The calls that are not under `/v1/organisations`: sign-up and the emailed links, sign-in,
the caller's account and sessions, the authorizer, and discovery (`/.well-known/*`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from tenantry.client.calls import (
    Call,
    body_of,
    items_of,
    nothing,
    page_of,
    paging,
    read_as,
    segment,
)
from tenantry.client.models import (
    Authorization,
    Jwks,
    Me,
    OpenIdConfiguration,
    Page,
    Session,
    TokenPair,
    User,
)
from tenantry.client.models_org import Team

# --- sign-up and the emailed links ----------------------------------------------------------


def signup(email: str, password: str, name: str) -> Call[User | None]:
    """None: accepted (202), whether or not the email has an account (its owner is mailed a
    reset link); the verification link is mailed. The new user only where the server reveals
    existing accounts (`TENANTRY_SIGNUP_REVEALS_EXISTING`: 201, and 409 for a taken email)."""
    body = {"email": email, "password": password, "name": name}
    return Call("POST", "/v1/auth/signup", _user_if_created, json=body)


def _user_if_created(response: httpx.Response) -> User | None:
    return User.of(body_of(response)) if response.status_code == 201 else None


def verify_email(token: str) -> Call[User]:
    """Redeem the `token` of the link mailed at sign-up; a link works once (410 otherwise)."""
    return Call("POST", "/v1/auth/verify-email", read_as(User.of), json={"token": token})


def resend_verification(email: str) -> Call[None]:
    """Accepted whether or not the email has an account waiting for verification."""
    return Call("POST", "/v1/auth/verify-email/resend", nothing, json={"email": email})


def request_password_reset(email: str) -> Call[None]:
    """Accepted whether or not the email has an account."""
    return Call("POST", "/v1/auth/password-reset", nothing, json={"email": email})


def confirm_password_reset(token: str, new_password: str) -> Call[None]:
    """Set a new password with the `token` of a reset link. Every session of the account
    ends; the email counts as verified."""
    body = {"token": token, "new_password": new_password}
    return Call("POST", "/v1/auth/password-reset/confirm", nothing, json=body)


# --- sign-in --------------------------------------------------------------------------------


def login(email: str, password: str, organisation_id: str | None = None) -> Call[TokenPair]:
    """A token pair; with `organisation_id`, an access token for that organisation (the
    caller must be an active member of it)."""
    body = {"email": email, "password": password, "organisation_id": organisation_id}
    return Call("POST", "/v1/auth/login", read_as(TokenPair.of), json=body)


def refresh(refresh_token: str, organisation_id: str | None = None) -> Call[TokenPair]:
    """A new pair; the refresh token is used up. With `organisation_id`, the session
    switches to that organisation."""
    body = {"refresh_token": refresh_token, "organisation_id": organisation_id}
    return Call("POST", "/v1/auth/refresh", read_as(TokenPair.of), json=body)


def logout(token: str, refresh_token: str | None = None) -> Call[None]:
    """Ends the token's session, and the session of `refresh_token` if it is another of the
    caller's."""
    body = {"refresh_token": refresh_token} if refresh_token else None
    return Call("POST", "/v1/auth/logout", nothing, json=body, token=token)


# --- the caller -----------------------------------------------------------------------------


def me(token: str) -> Call[Me]:
    return Call("GET", "/v1/me", read_as(Me.of), token=token)


def change_password(token: str, current_password: str, new_password: str) -> Call[None]:
    """Every other session of the account ends; the token's own stays."""
    body = {"current_password": current_password, "new_password": new_password}
    return Call("POST", "/v1/me/password", nothing, json=body, token=token)


def list_sessions(
    token: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[Session]]:
    """The caller's live sessions, newest first."""
    query = paging(limit, cursor)
    return Call("GET", "/v1/me/sessions", page_of(Session.of), token=token, params=query)


def revoke_session(token: str, session_id: str) -> Call[None]:
    """End one of the caller's sessions; another user's answers 404, like a missing one."""
    path = f"/v1/me/sessions/{segment(session_id)}"
    return Call("DELETE", path, nothing, token=token)


def revoke_all_sessions(token: str) -> Call[None]:
    """Log out everywhere: every session of the caller's ends, the token's own included."""
    return Call("DELETE", "/v1/me/sessions", nothing, token=token)


def my_teams(token: str) -> Call[tuple[Team, ...]]:
    """The caller's teams in the organisation the token is for (none for an account-level
    token)."""
    return Call("GET", "/v1/me/teams", items_of(Team.of), token=token)


# --- the authorizer -------------------------------------------------------------------------


def authorize(
    token: str,
    organisation_id: str,
    permission: str | Sequence[str],
    *,
    team_id: str | None = None,
    min_epoch: int | None = None,
    explain: bool = False,
) -> Call[Authorization]:
    """May `token` do `permission` (one, or up to 100 together) in the organisation (and
    team)? A denial is an answer (`allowed` false, with reasons), not an exception."""
    asked: dict[str, Any] = (
        {"permission": permission}
        if isinstance(permission, str)
        else {"permissions": list(permission)}
    )
    body = {"organisation_id": organisation_id, **asked, "explain": explain}
    if team_id is not None:
        body["team_id"] = team_id
    if min_epoch is not None:
        body["min_epoch"] = min_epoch
    read = read_as(Authorization.of)
    return Call("POST", "/v1/authorize", read, json=body, token=token, read_only=True)


# --- discovery ------------------------------------------------------------------------------


def jwks() -> Call[Jwks]:
    """The public keys that verify tenantry's access tokens."""
    return Call("GET", "/.well-known/jwks.json", read_as(Jwks.of))


def openid_configuration() -> Call[OpenIdConfiguration]:
    return Call("GET", "/.well-known/openid-configuration", read_as(OpenIdConfiguration.of))
