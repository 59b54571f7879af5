"""One kind of record as a unit of work sees it: reads of committed state, buffered writes.

Every repository of the memory store reads and writes through a `Table`, so there is one
implementation of an insert with its uniqueness and of a conditional update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from tenantry.domain.errors import TenantryError
from tenantry.store.memory.intents import Intent
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.transaction import Transaction

K = TypeVar("K")
R = TypeVar("R")


def exists(_record: object) -> bool:
    """The precondition of a write that only needs its record to be there."""
    return True


class Table(Generic[K, R]):
    def __init__(self, transaction: Transaction, rows: Callable[[MemoryState], dict[K, R]]) -> None:
        self._transaction = transaction
        self._rows = rows

    def get(self, key: K) -> R | None:
        return self._transaction.read(lambda state: self._rows(state).get(key))

    def select(self, where: Callable[[R], bool]) -> list[R]:
        """The committed records that match, in no order."""
        return self._transaction.read(
            lambda state: [record for record in self._rows(state).values() if where(record)]
        )

    def first(self, where: Callable[[R], bool]) -> R | None:
        return next(iter(self.select(where)), None)

    def insert(
        self,
        key: K,
        record: R,
        *,
        code: str = "conflict",
        unique: Callable[[R], object] | None = None,
    ) -> None:
        """Precondition: the key is free and no record has the same `unique(record)` (the
        store's unique constraint, if any); failing either is the `Conflict` `code`, as a
        violated constraint of a SQL insert is."""
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            table = rows(state)
            if key in table or _clashes(record, table.values(), unique):
                return False
            table[key] = record
            return True

        self._transaction.write(Intent(apply, code))

    def update(
        self,
        key: K,
        change: Callable[[R], R],
        *,
        precondition: Callable[[R], bool] | None = None,
        code: str = "conflict",
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Replace the record by `change(record)`.

        With a `precondition`, the record must exist and satisfy it, else the `Conflict`
        `code` (or `on_conflict`). Without one, a missing record is left missing, as a SQL
        UPDATE that matches no row.
        """
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            table = rows(state)
            record = table.get(key)
            if record is None:
                return precondition is None
            if precondition is not None and not precondition(record):
                return False
            table[key] = change(record)
            return True

        self._transaction.write(Intent(apply, code, on_conflict))

    def update_unique(
        self,
        key: K,
        change: Callable[[R], R],
        *,
        unique: Callable[[R], object],
        code: str,
        unique_code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Replace the record by `change(record)`, as a SQL UPDATE that a unique index may
        refuse: the record must exist (else the `Conflict` `code`), then no other record may
        have the same `unique(...)` as the changed one (else `unique_code`); `on_conflict`
        replaces either."""
        self.require(key, code=code, on_conflict=on_conflict)
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            table = rows(state)
            changed = change(table[key])  # there: the check above ran on this working state
            others = (record for other, record in table.items() if other != key)
            if _clashes(changed, others, unique):
                return False
            table[key] = changed
            return True

        self._transaction.write(Intent(apply, unique_code, on_conflict))

    def delete(self, key: K, *, code: str, on_conflict: TenantryError | None = None) -> None:
        """Precondition: the record is there (else the `Conflict` `code`), as a SQL DELETE
        that must remove one row."""
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            return rows(state).pop(key, None) is not None

        self._transaction.write(Intent(apply, code, on_conflict))

    def delete_where(self, where: Callable[[R], bool]) -> None:
        """Delete every record that matches at commit, none if none does (a SQL DELETE with
        no expectation)."""
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            table = rows(state)
            for key in [key for key, record in table.items() if where(record)]:
                del table[key]
            return True

        self._transaction.write(Intent(apply, "conflict"))

    def update_where(self, where: Callable[[R], bool], change: Callable[[R], R]) -> None:
        """Replace every record that matches at commit by `change(record)`, none if none does
        (a SQL UPDATE with no expectation)."""
        rows = self._rows

        def apply(state: MemoryState) -> bool:
            table = rows(state)
            for key in [key for key, record in table.items() if where(record)]:
                table[key] = change(table[key])
            return True

        self._transaction.write(Intent(apply, "conflict"))

    def require(
        self,
        key: K,
        precondition: Callable[[R], bool] = exists,
        *,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """A condition check: writes nothing, but the commit fails unless the record is there
        and satisfies `precondition` then."""
        self.update(key, _unchanged, precondition=precondition, code=code, on_conflict=on_conflict)


def _unchanged(record: R) -> R:
    return record


def _clashes(record: R, others: Iterable[R], unique: Callable[[R], object] | None) -> bool:
    if unique is None:
        return False
    taken = unique(record)
    return any(unique(other) == taken for other in others)
