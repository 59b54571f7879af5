"""Writes as intents: each repository write is buffered with its precondition and applied at
commit, in order, so that SQL honours the same contract as a DynamoDB TransactWriteItems.

A precondition is either "exactly one row" (an UPDATE whose WHERE names the expected state,
or a SELECT that must find the row: a condition check) or "unique" (an INSERT that a unique
constraint may refuse); an UPDATE that renames may need both, with a code for each. A failed
one raises the write's conflict and the commit stops there; the unit of work then rolls back
the whole transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, auto

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tenantry.domain.audit import AuditEvent
from tenantry.domain.errors import TenantryError
from tenantry.store.conflicts import conflict


class Expect(Enum):
    NOTHING = auto()
    ONE_ROW = auto()
    UNIQUE = auto()


@dataclass(frozen=True, slots=True)
class Intent:
    statement: sa.Executable
    expect: Expect = Expect.NOTHING
    code: str = "conflict"
    on_conflict: TenantryError | None = None
    # The code of a unique constraint's refusal, for a ONE_ROW write (a rename) it may refuse.
    unique_code: str | None = None

    @property
    def constraint_code(self) -> str:
        """The code of the conflict a violated constraint raises."""
        if self.expect is Expect.UNIQUE:
            return self.code
        # A constraint no precondition anticipated is still a conflict with stored data.
        return self.unique_code or "conflict"


class WriteBuffer:
    """The unit of work's pending writes; repositories only ever append to it."""

    def __init__(self) -> None:
        self._intents: list[Intent] = []
        self._events: list[AuditEvent] = []  # chained after the intents, at commit
        self.closed = False

    def add(
        self,
        statement: sa.Executable,
        *,
        expect: Expect = Expect.NOTHING,
        code: str = "conflict",
        on_conflict: TenantryError | None = None,
        unique_code: str | None = None,
    ) -> None:
        if self.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        self._intents.append(Intent(statement, expect, code, on_conflict, unique_code))

    def add_event(self, event: AuditEvent) -> None:
        if self.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        self._events.append(event)

    def take(self) -> tuple[list[Intent], list[AuditEvent]]:
        """The pending writes and audit events, leaving the buffer empty."""
        intents, self._intents = self._intents, []
        events, self._events = self._events, []
        return intents, events


def apply_intents(db: sa.Connection, intents: Iterable[Intent]) -> None:
    for intent in intents:
        _apply(db, intent)


def _apply(db: sa.Connection, intent: Intent) -> None:
    try:
        result = db.execute(intent.statement)
    except IntegrityError as error:
        raise conflict(intent.constraint_code, intent.on_conflict) from error
    if intent.expect is not Expect.ONE_ROW:
        return
    found = result.first() is not None if result.returns_rows else result.rowcount == 1
    if not found:
        raise conflict(intent.code, intent.on_conflict)
