"""The accounts' wire shapes. Outputs never carry secrets (no password or token hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tenantry.domain.model import User
from tenantry.http.wire import Input

# Checked and normalised by the use case (`accounts.email_address`), whichever edge it comes
# from; here only its size.
Email = Annotated[str, Field(min_length=1, max_length=320)]


class SignupIn(Input):
    email: Email
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class TokenIn(Input):
    token: str = Field(min_length=1, max_length=512)


class PasswordResetIn(Input):
    email: Email


class VerificationResendIn(Input):
    email: Email


class Accepted(BaseModel):
    """The answer to a request about an email address, the same whether or not the address
    has an account."""

    status: Literal["accepted"] = "accepted"


class PasswordResetConfirmIn(Input):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


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
