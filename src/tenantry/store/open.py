"""Chooses the store named by `TENANTRY_DATABASE_URL`: SQLite or PostgreSQL, or `memory://`."""

from __future__ import annotations

from typing import Protocol

from tenantry.unit_of_work import UnitOfWork


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

    def dispose(self) -> None: ...


def open_store(url: str) -> Store:
    if url.startswith("memory:"):
        from tenantry.store.memory import MemoryStore

        return MemoryStore()
    from tenantry.store.sql import SqlStore

    return SqlStore(url)
