"""Users in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import User
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table, exists
from tenantry.store.memory.transaction import Transaction


def _users(state: MemoryState) -> dict[str, User]:
    return state.users


class MemoryUsers:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _users)

    def get(self, user_id: str) -> User | None:
        return self._table.get(user_id)

    def get_by_email(self, email: str) -> User | None:
        return self._table.first(lambda user: user.email == email)

    def add(self, user: User) -> None:
        self._table.insert(user.id, user, code="email_taken", unique=lambda other: other.email)

    def require_exists(self, user_id: str, *, on_conflict: TenantryError | None = None) -> None:
        self._table.require(user_id, code="user_not_found", on_conflict=on_conflict)

    def set_password_hash(
        self,
        user_id: str,
        password_hash: str,
        *,
        expected_hash: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        self._table.update(
            user_id,
            lambda user: replace(user, password_hash=password_hash),
            precondition=lambda user: user.password_hash == expected_hash,
            code="account_changed",
            on_conflict=on_conflict,
        )

    def mark_verified(self, user_id: str, at: datetime) -> None:
        self._table.update(
            user_id,
            lambda user: replace(user, email_verified_at=at),
            precondition=exists,
            code="user_not_found",
        )

    def bump_session_epoch(
        self, user_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        self._table.update(
            user_id,
            lambda user: replace(user, session_epoch=expected + 1),
            precondition=lambda user: user.session_epoch == expected,
            code="account_changed",
            on_conflict=on_conflict,
        )

    def set_reset_epoch(self, user_id: str, epoch: int) -> None:
        self._table.update(user_id, lambda user: replace(user, reset_epoch=epoch))
