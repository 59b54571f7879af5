"""What one-time tokens and refresh tokens share: found by their secret's hash, used once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import OneTimeToken, RefreshToken
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction

TokenT = TypeVar("TokenT", OneTimeToken, RefreshToken)


class SingleUseTokens(Generic[TokenT]):
    """`used_code` is the `Conflict` of using a token twice."""

    used_code: ClassVar[str]

    def __init__(
        self, transaction: Transaction, rows: Callable[[MemoryState], dict[str, TokenT]]
    ) -> None:
        self._table: Table[str, TokenT] = Table(transaction, rows)

    def get_by_hash(self, token_hash: str) -> TokenT | None:
        return self._table.first(lambda token: token.token_hash == token_hash)

    def add(self, token: TokenT) -> None:
        self._table.insert(token.id, token, unique=lambda other: other.token_hash)

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._table.update(
            token_id,
            lambda token: replace(token, used_at=at),
            precondition=lambda token: token.used_at is None,
            code=self.used_code,
            on_conflict=on_conflict,
        )


def _one_time_tokens(state: MemoryState) -> dict[str, OneTimeToken]:
    return state.one_time_tokens


def _refresh_tokens(state: MemoryState) -> dict[str, RefreshToken]:
    return state.refresh_tokens


class MemoryOneTimeTokens(SingleUseTokens[OneTimeToken]):
    used_code = "token_used"

    def __init__(self, transaction: Transaction) -> None:
        super().__init__(transaction, _one_time_tokens)


class MemoryRefreshTokens(SingleUseTokens[RefreshToken]):
    used_code = "refresh_token_used"

    def __init__(self, transaction: Transaction) -> None:
        super().__init__(transaction, _refresh_tokens)
