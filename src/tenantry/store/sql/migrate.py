"""Schema migrations (Alembic), run as the owner role, and grants for the runtime role."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url

from tenantry.store.sql.engine import create_store_engine

_MIGRATIONS = Path(__file__).parent / "migrations"

# The audit log is append-only for the running service: it may read and insert, and delete
# only what the archive holds (pruning; row-level security enforces that), never update.
_APPEND_ONLY = ("audit_events",)
# The functions the runtime role calls (each revoked from PUBLIC by its migration).
_RUNTIME_FUNCTIONS = ("tenantry_org_id_for_slug(text)",)


def migrate(migration_url: str, *, runtime_url: str | None = None) -> None:
    """Bring the schema to head; on PostgreSQL grant the runtime role what it needs.

    The runtime role is the user of `runtime_url` when it differs from the migration user.
    """
    engine = create_store_engine(migration_url, pool_size=1)
    try:
        _upgrade(engine)
        role = _runtime_role(migration_url, runtime_url)
        if engine.dialect.name == "postgresql" and role:
            _grant_runtime_privileges(engine, role)
    finally:
        engine.dispose()


def _upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _runtime_role(migration_url: str, runtime_url: str | None) -> str | None:
    if runtime_url is None:
        return None
    runtime_user = make_url(runtime_url).username
    if runtime_user is None or runtime_user == make_url(migration_url).username:
        return None
    return runtime_user


def _grant_runtime_privileges(engine: Engine, role: str) -> None:
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as connection:
        tables = [t for t in sa.inspect(connection).get_table_names() if t != "alembic_version"]
        for table in tables:
            privileges = (
                "SELECT, INSERT, DELETE"
                if table in _APPEND_ONLY
                else "SELECT, INSERT, UPDATE, DELETE"
            )
            connection.exec_driver_sql(f"GRANT {privileges} ON {table} TO {quoted}")
        for table in _APPEND_ONLY:
            connection.exec_driver_sql(f"REVOKE UPDATE, TRUNCATE ON {table} FROM {quoted}")
        for function in _RUNTIME_FUNCTIONS:
            connection.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function} TO {quoted}")
