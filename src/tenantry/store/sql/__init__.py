"""The SQL store: SQLite (embedded default) and PostgreSQL with forced row-level security."""

from tenantry.store.sql.store import SqlStore

__all__ = ["SqlStore"]
