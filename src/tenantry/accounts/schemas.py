"""The accounts' wire shapes. Outputs never carry secrets (no password or token hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tenantry.domain.model import User
from tenantry.http.wire import DISPLAY_NAME, Input

# Checked and normalised by the use case (`accounts.email_address`), whichever edge it comes
# from; here only its size.
Email = Annotated[str, Field(min_length=1, max_length=320)]


NEW_PASSWORD = "The new password: 10 to 256 characters."  # noqa: S105 (a description)


class SignupIn(Input):
    email: Email = Field(
        description="The account's email address, stored NFKC-normalised and lower-cased; "
        "an address has at most one account."
    )
    password: str = Field(
        min_length=1, max_length=256, description="The password: 10 to 256 characters."
    )
    name: str = Field(min_length=1, max_length=200, description=DISPLAY_NAME)


class TokenIn(Input):
    token: str = Field(
        min_length=1,
        max_length=512,
        description="The token of the verification link mailed at sign-up; it works once.",
    )


class PasswordResetIn(Input):
    email: Email = Field(description="The email address of the account to mail a reset link to.")


class VerificationResendIn(Input):
    email: Email = Field(
        description="The email address of the account whose verification link to mail again."
    )


class Accepted(BaseModel):
    """The answer to a request about an email address, the same whether or not the address
    has an account."""

    status: Literal["accepted"] = Field("accepted", description="Always `accepted`.")


class PasswordResetConfirmIn(Input):
    token: str = Field(
        min_length=1,
        max_length=512,
        description="The token of the password-reset link; it works once, and only the most "
        "recently mailed link of an account works.",
    )
    new_password: str = Field(min_length=1, max_length=256, description=NEW_PASSWORD)


class PasswordChangeIn(Input):
    current_password: str = Field(
        min_length=1, max_length=256, description="The account's present password."
    )
    new_password: str = Field(min_length=1, max_length=256, description=NEW_PASSWORD)


class UserOut(BaseModel):
    id: str = Field(description="The user's id (`usr_…`); never changes.")
    email: str = Field(description="The email address, normalised (NFKC, lower case).")
    name: str = Field(description="The display name.")
    email_verified: bool = Field(
        description="Whether the address is verified: by the link mailed at sign-up, or by "
        "setting a password with a reset link."
    )
    created_at: datetime = Field(description="When the account was made (RFC 3339, UTC).")

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
    organisation_id: str | None = Field(
        description="The organisation the bearer token is for; null for an account-level "
        "token (one asked for without `organisation_id`)."
    )
    org_role: str | None = Field(
        description="The caller's role in that organisation as the token states it (`OWNER`, "
        "`ADMIN` or `MEMBER`); null when `organisation_id` is."
    )
