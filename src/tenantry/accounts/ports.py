"""Users and one-time tokens, and the password hasher."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.model import OneTimeToken, TokenPurpose, User


class UsersRepository(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def get_by_email(self, email: str) -> User | None: ...
    def add(self, user: User) -> None:
        """Precondition: no user has this email (`Conflict` code `email_taken`)."""

    def set_password_hash(self, user_id: str, password_hash: str) -> None: ...
    def mark_verified(self, user_id: str, at: datetime) -> None: ...


class OneTimeTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> OneTimeToken | None: ...
    def add(self, token: OneTimeToken) -> None: ...
    def mark_used(self, token_id: str, at: datetime) -> None:
        """Precondition: not used yet (`Conflict` `token_used`)."""

    def expire_unused(self, user_id: str, purpose: TokenPurpose, at: datetime) -> None: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    def burn(self, password: str) -> None:
        """Spend the time of one verification, for unknown accounts."""
