"""The one write mechanism of the memory store: buffered intents, applied all or none."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tenantry.domain.errors import TenantryError
from tenantry.store.conflicts import conflict
from tenantry.store.memory.state import MemoryState


@dataclass(frozen=True, slots=True)
class Intent:
    """One buffered write.

    `apply` checks the precondition against the working state as the intents before it left
    it; it returns False, having changed nothing, when the precondition fails, and otherwise
    applies the write and returns True. `code` names the failed precondition's `Conflict`
    and `on_conflict` replaces it.
    """

    apply: Callable[[MemoryState], bool]
    code: str = "conflict"
    on_conflict: TenantryError | None = None


def applied(state: MemoryState, intents: Sequence[Intent]) -> MemoryState:
    """The state after every intent, in order; `state` itself is never changed.

    Raises the first failed precondition's conflict, so a caller that keeps `state` on error
    has applied none of them.
    """
    working = state.copy()
    for intent in intents:
        if not intent.apply(working):
            raise conflict(intent.code, intent.on_conflict)
    return working
