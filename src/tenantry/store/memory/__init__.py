"""The in-memory store: the SQL store's contract, with intents applied to dicts under a lock."""

from tenantry.store.memory.store import MemoryStore

__all__ = ["MemoryStore"]
