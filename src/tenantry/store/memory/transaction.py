"""The committed state behind its lock, and one unit of work's buffer of intents."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from tenantry.store.memory.intents import Intent, applied
from tenantry.store.memory.state import MemoryState

T = TypeVar("T")


class CommittedState:
    """The state every unit of work reads, changed only by a whole commit.

    A commit builds a new state and swaps it in, so a published state is never mutated;
    the lock makes each read see one commit's state and serialises the commits.
    """

    def __init__(self) -> None:
        self._state = MemoryState()
        self._lock = threading.Lock()

    def read(self, query: Callable[[MemoryState], T]) -> T:
        with self._lock:
            return query(self._state)

    def commit(self, intents: list[Intent]) -> None:
        with self._lock:
            self._state = applied(self._state, intents)


class Transaction:
    """What the repositories of one unit of work share: committed reads and buffered writes.

    Usable only between `open` and `close` (the unit of work's `with` block); otherwise every
    read and write raises RuntimeError.
    """

    def __init__(self, committed: CommittedState) -> None:
        self._committed = committed
        self._intents: list[Intent] | None = None

    def open(self) -> None:
        self._intents = []

    def close(self) -> None:
        self._intents = None

    def require_open(self) -> None:
        self._buffer()

    def read(self, query: Callable[[MemoryState], T]) -> T:
        self.require_open()
        return self._committed.read(query)

    def write(self, intent: Intent) -> None:
        self._buffer().append(intent)

    def commit(self) -> None:
        # The buffer is emptied first: after a failed commit nothing of it remains to retry.
        intents = self._buffer().copy()
        self.rollback()
        self._committed.commit(intents)

    def rollback(self) -> None:
        self._buffer().clear()

    def _buffer(self) -> list[Intent]:
        if self._intents is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._intents
