"""Chooses the store named by `TENANTRY_DATABASE_URL`: SQLite or PostgreSQL, `dynamodb://TABLE`,
or `memory://`."""

from __future__ import annotations

from typing import Protocol

from tenantry.authorizer.feed import LiveSessions
from tenantry.unit_of_work import UnitOfWork


class Listening(Protocol):
    """A running change feed."""

    application_name: str  # how its connection is named to the database

    def stop(self) -> None: ...


class Store(Protocol):
    """What the rest of tenantry needs of a store: units of work, and a few admin checks."""

    def unit_of_work(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
    ) -> UnitOfWork: ...

    def check_tenant_isolation(self) -> None:
        """Raise `UnsafeDatabase` unless the store would keep tenants apart."""

    def ping(self) -> None:
        """Raise `Unavailable` unless the store answers."""

    def listen_for_changes(self, sink: LiveSessions) -> Listening | None:
        """Start telling `sink` of changes to sessions as they commit, with heartbeats; None
        if this store has no change feed (then nothing is vouched for)."""

    def dispose(self) -> None: ...


def open_store(url: str) -> Store:
    if url.startswith("memory:"):
        from tenantry.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("dynamodb:"):
        from tenantry.store.dynamo.store import open_dynamo_store

        return open_dynamo_store(url)
    from tenantry.store.sql import SqlStore

    return SqlStore(url)
