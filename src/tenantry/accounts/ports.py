"""Users and one-time tokens, the password hasher, and the composer of account emails.

Writes are intents: a store applies them at commit, in order, each with its precondition. A
write whose precondition fails makes the commit raise its `on_conflict` error (or the
`Conflict` its docstring names) and nothing of the unit of work is applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.invitations import Invitation
from tenantry.domain.model import EmailMessage, OneTimeToken, User


class UsersRepository(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def get_by_email(self, email: str) -> User | None: ...
    def add(self, user: User) -> None:
        """Precondition: no user has this email (`Conflict` `email_taken`)."""

    def require_exists(self, user_id: str, *, on_conflict: TenantryError | None = None) -> None:
        """A condition check: the user still exists at commit (`Conflict` `user_not_found`)."""

    def set_password_hash(
        self,
        user_id: str,
        password_hash: str,
        *,
        expected_hash: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Precondition: the stored hash is still the one the password was checked against
        (`Conflict` `account_changed`), so a concurrent change is never overwritten."""

    def mark_verified(self, user_id: str, at: datetime) -> None:
        """Precondition: the user exists (`Conflict` `user_not_found`)."""

    def bump_session_epoch(
        self, user_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        """Set the session epoch to `expected + 1`, which ends every session begun before.

        Precondition: the epoch is still `expected` (`Conflict` `account_changed`).
        """

    def set_reset_epoch(self, user_id: str, epoch: int) -> None:
        """Password-reset links of an older epoch stop working. No precondition: two
        concurrent requests may both set the same epoch, and both their links then work."""


class OneTimeTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> OneTimeToken | None: ...
    def add(self, token: OneTimeToken) -> None: ...
    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        """Precondition: not used yet (`Conflict` `token_used`): a link works once."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    def burn(self, password: str) -> None:
        """Spend the time of one verification, for unknown accounts."""


class MessageComposer(Protocol):
    """Renders the account emails; links point at the product's pages (the public URL)."""

    def verification_email(self, user: User, token: str) -> EmailMessage: ...
    def password_reset_email(self, user: User, token: str) -> EmailMessage: ...
    def password_changed_email(self, user: User) -> EmailMessage: ...
    def invitation_email(
        self, invitation: Invitation, org_name: str, token: str, *, resent: bool
    ) -> EmailMessage: ...
    def existing_account_email(self, user: User, token: str) -> EmailMessage:
        """Someone tried to sign up with the address of this account; `token` resets the
        password (a reset link, as `password_reset_email` sends)."""

    def sign_in_attempts_email(self, user: User) -> EmailMessage:
        """Someone is trying passwords on the account from addresses it does not use."""
