"""The signing-key ring in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.model import KeyState, SigningKey
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _signing_keys(state: MemoryState) -> dict[str, SigningKey]:
    return state.signing_keys


class MemorySigningKeys:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _signing_keys)

    def list(self) -> list[SigningKey]:
        keys = self._table.select(lambda _key: True)
        return sorted(keys, key=lambda key: (key.created_at, key.kid))

    def add(self, key: SigningKey) -> None:
        self._table.insert(key.kid, key)

    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None:
        def moved(key: SigningKey) -> SigningKey:
            if new == KeyState.RETIRED:
                return replace(key, state=new, retired_at=at)
            return replace(key, state=new)

        self._table.update(
            kid,
            moved,
            precondition=lambda key: key.state == expected,
            code="key_state_changed",
        )
