"""The sessions' wire shapes: sign-in inputs, token pairs, session lists."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.domain.model import Session
from tenantry.http.wire import Input
from tenantry.sessions.sign_in import TokenPair


class LoginIn(Input):
    # Checked by the use case (`normalise_email`).
    email: str = Field(
        min_length=1,
        max_length=320,
        description="The account's email address, compared after the same normalisation "
        "as at sign-up (NFKC, lower case).",
    )
    password: str = Field(min_length=1, max_length=256, description="The account's password.")
    organisation_id: str | None = Field(
        default=None,
        max_length=40,
        description="An organisation's id: the access token is then scoped to it, with the "
        "caller's role, and the caller must be an active member (else 403 `not_a_member`). "
        "Null or absent: an account-level token.",
    )


class RefreshIn(Input):
    refresh_token: str = Field(
        min_length=1,
        max_length=512,
        description="The refresh token of the session's latest pair. It is used up; "
        "presenting it again revokes the whole session.",
    )
    organisation_id: str | None = Field(
        default=None,
        max_length=40,
        description="An organisation's id to switch the session to; the caller must be an "
        "active member (else 403 `not_a_member`). Null or absent: the session's organisation "
        "stays, or the token is account-level if the caller is no longer an active member "
        "of it.",
    )


class LogoutIn(Input):
    refresh_token: str | None = Field(
        default=None,
        max_length=512,
        description="A refresh token of another of the caller's sessions, to end that "
        "session as well. Null or absent: only the bearer's session ends.",
    )


class TokenPairOut(BaseModel):
    access_token: str = Field(
        description="A signed JWT to send as `Authorization: Bearer <token>`; its keys are "
        "at `/.well-known/jwks.json`."
    )
    refresh_token: str = Field(
        description="An opaque secret (`rt_…`) for `POST /v1/auth/refresh`; it works once, "
        "and works no longer than the session (`expires_at` in the session list)."
    )
    token_type: str = Field("Bearer", description="Always `Bearer`.")
    expires_in: int = Field(description="Seconds until the access token expires.")
    organisation_id: str | None = Field(
        description="The organisation the access token is scoped to; null for an "
        "account-level token."
    )

    @classmethod
    def of(cls, pair: TokenPair) -> TokenPairOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            organisation_id=pair.org_id,
        )


class SessionOut(BaseModel):
    id: str = Field(
        description="The session's id (`ses_…`), for `DELETE /v1/me/sessions/{session_id}`."
    )
    created_at: datetime = Field(description="When the session began, at login (RFC 3339, UTC).")
    last_used_at: datetime = Field(
        description="When the session's latest token pair was issued, at login or refresh "
        "(RFC 3339, UTC)."
    )
    expires_at: datetime = Field(
        description="When the session ends whatever its use: refreshing does not extend it "
        "(RFC 3339, UTC)."
    )
    organisation_id: str | None = Field(
        description="The organisation of the session's latest token; null when it is account-level."
    )
    user_agent: str | None = Field(
        description="The `User-Agent` header at login, cut to 400 characters; null when "
        "there was none."
    )
    ip_address: str | None = Field(
        description="The client's IP address at login, as the server saw it; null when unknown."
    )
    current: bool = Field(description="Whether this is the session of the bearer token.")

    @classmethod
    def of(cls, session: Session, current_id: str | None) -> SessionOut:
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            organisation_id=session.org_id,
            user_agent=session.user_agent,
            ip_address=session.ip_address,
            current=session.id == current_id,
        )
