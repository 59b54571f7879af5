"""The contract suite runs every test on each store: memory, SQLite and PostgreSQL.

PostgreSQL's database is shared by every test of a worker, so the suite uses unique ids,
emails and slugs, reads only its own records, and removes the outbox entries and signing
keys it adds (rows no tenant owns, which later tests' apps would otherwise pick up).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tenantry.store.memory import MemoryStore
from tenantry.store.open import Store
from tenantry.store.sql.tables import jobs, outbox, signing_keys
from tests.harness import copy_sqlite, postgres_target, rows_added_are_removed, sql_store

STORES = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with ExitStack() as stack:
        if request.param == "sqlite":
            template: Path = request.getfixturevalue("sqlite_template")
            url = copy_sqlite(template, tmp_path / "contract.db")
        else:
            target = postgres_target(request.getfixturevalue("migrated_postgres"))
            stack.enter_context(rows_added_are_removed(target, outbox.c.id))
            stack.enter_context(rows_added_are_removed(target, signing_keys.c.kid))
            stack.enter_context(rows_added_are_removed(target, jobs.c.id))
            url = target.url
        yield stack.enter_context(sql_store(url))
