"""The sessions' wire shapes: sign-in inputs, token pairs, session lists."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.domain.model import Session
from tenantry.http.wire import Input
from tenantry.sessions.sign_in import TokenPair


class LoginIn(Input):
    email: str = Field(min_length=1, max_length=320)  # checked by the use case (`normalise_email`)
    password: str = Field(min_length=1, max_length=256)
    organisation_id: str | None = Field(default=None, max_length=40)


class RefreshIn(Input):
    refresh_token: str = Field(min_length=1, max_length=512)
    organisation_id: str | None = Field(default=None, max_length=40)


class LogoutIn(Input):
    refresh_token: str | None = Field(default=None, max_length=512)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 (the scheme name, not a secret)
    expires_in: int
    organisation_id: str | None

    @classmethod
    def of(cls, pair: TokenPair) -> TokenPairOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            organisation_id=pair.org_id,
        )


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    organisation_id: str | None
    user_agent: str | None
    ip_address: str | None
    current: bool

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
