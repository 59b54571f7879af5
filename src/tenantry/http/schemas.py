"""The public wire contract. Input models forbid unknown fields; output models never carry
secrets (no password hash, no token hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from tenantry.domain.model import Membership, MemberView, Organisation, Session, User
from tenantry.services.sign_in import TokenPair


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)

    @field_validator("*")
    @classmethod
    def _no_nul_character(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here as bad input, not later as a 500.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class SignupIn(Input):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class TokenIn(Input):
    token: str = Field(min_length=1, max_length=512)


class LoginIn(Input):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    organisation_id: str | None = Field(default=None, max_length=40)


class RefreshIn(Input):
    refresh_token: str = Field(min_length=1, max_length=512)
    organisation_id: str | None = Field(default=None, max_length=40)


class LogoutIn(Input):
    refresh_token: str | None = Field(default=None, max_length=512)


class PasswordResetIn(Input):
    email: EmailStr


class PasswordResetConfirmIn(Input):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class OrganisationIn(Input):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=1, max_length=100)


class OrganisationPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


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


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            email_verified=user.is_verified,
            created_at=user.created_at,
        )


class MeOut(UserOut):
    organisation_id: str | None
    org_role: str | None


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


class OrganisationOut(BaseModel):
    id: str
    slug: str
    name: str
    status: str
    settings: dict[str, Any]
    created_at: datetime
    provisioning_step: str | None = None
    provisioning_error: str | None = None

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls(
            id=org.id,
            slug=org.slug,
            name=org.name,
            status=org.status.value,
            settings=org.settings,
            created_at=org.created_at,
            provisioning_step=org.provisioning_step,
            provisioning_error=org.provisioning_error,
        )


class MyOrganisationOut(OrganisationOut):
    org_role: str

    @classmethod
    def of_membership(cls, org: Organisation, membership: Membership) -> MyOrganisationOut:
        return cls(**OrganisationOut.of(org).model_dump(), org_role=membership.org_role.value)


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    org_role: str
    status: str
    joined_at: datetime

    @classmethod
    def of(cls, member: MemberView) -> MemberOut:
        return cls(
            user_id=member.user_id,
            email=member.email,
            name=member.name,
            org_role=member.org_role.value,
            status=member.status.value,
            joined_at=member.joined_at,
        )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
