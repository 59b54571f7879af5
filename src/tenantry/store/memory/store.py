"""The memory store: every port in process memory, for the fast tests and the contract suite."""

from __future__ import annotations

from tenantry.authorizer.feed import LiveSessions
from tenantry.store.memory.transaction import CommittedState
from tenantry.store.memory.unit_of_work import MemoryUnitOfWork


class MemoryStore:
    """One store shared by many threads; its state lasts as long as the object."""

    dialect = "memory"

    def __init__(self) -> None:
        self._committed = CommittedState()

    def unit_of_work(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
    ) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(
            self._committed, org_id=org_id, user_id=user_id, request_id=request_id
        )

    def ping(self) -> None:
        """Always answers: the store is this process."""

    def check_tenant_isolation(self) -> None:
        """Nothing to check: no database role could see another tenant's rows."""

    def listen_for_changes(self, sink: LiveSessions) -> None:
        """No feed: the memory store is read on every check, which costs next to nothing."""
        return None

    def dispose(self) -> None:
        """Nothing to release."""
