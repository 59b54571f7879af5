"""The contract suite runs every test on each store: memory, SQLite, PostgreSQL and DynamoDB
(AWS's DynamoDB Local).

PostgreSQL's database is shared by every test of a worker, so the suite uses unique ids,
emails and slugs, reads only its own records, and removes the outbox entries and signing
keys it adds (rows no tenant owns, which later tests' apps would otherwise pick up).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tenantry.store.dynamo import keys
from tenantry.store.dynamo.store import DynamoStore
from tenantry.store.dynamo.table import create_table
from tenantry.store.memory import MemoryStore
from tenantry.store.open import Store
from tenantry.store.sql.tables import jobs, outbox, signing_keys
from tests.dynamodb_local import DynamoDbEndpoint, NoScans, dynamodb  # noqa: F401 - a fixture
from tests.harness import copy_sqlite, postgres_target, rows_added_are_removed, sql_store

STORES = ["memory", "sqlite", "postgres", "dynamo"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "refusal_cases(cases): parametrize `case` and `store` by each case's port"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("refusal_cases")
    if marker is None:
        metafunc.parametrize("store", STORES, indirect=True)
        return
    pairs = [(store, case) for case in marker.args[0] for store in STORES]
    metafunc.parametrize(
        ("store", "case"),
        pairs,
        indirect=["store"],
        ids=[f"{store}-{case.name}" for store, case in pairs],
    )


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "dynamo":
        yield from _dynamo_store(request.getfixturevalue("dynamo_table"))
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


@pytest.fixture(scope="session")
def dynamo_table(dynamodb: DynamoDbEndpoint) -> Iterator[tuple[Any, str]]:  # noqa: F811
    """One table for the test worker's DynamoDB tests (making one takes a while): they use
    unique ids, as on the shared PostgreSQL database."""
    client, table = dynamodb.client(), f"tenantry-{uuid.uuid4().hex[:12]}"
    create_table(client, table)
    try:
        yield client, table
    finally:
        client.delete_table(TableName=table)


def _dynamo_store(dynamo_table: tuple[Any, str]) -> Iterator[Store]:
    client, table = dynamo_table
    try:
        yield DynamoStore(NoScans(client), table)
    finally:
        _remove_shared_items(client, table)


def _remove_shared_items(client: Any, table: str) -> None:
    """What no organisation owns, which lists read whole (the signing-key ring, the jobs, the
    outbox): gone after each test, as `rows_added_are_removed` does on PostgreSQL."""
    partitions = [
        ("PK", keys.SIGNING_KEYS, None),
        ("GSI3PK", keys.PENDING_JOBS, "GSI3"),
        ("GSI3PK", keys.DONE_JOBS, "GSI3"),
        *(("GSI3PK", f"{keys.OUTBOX}{status}", "GSI3") for status in ("PENDING", "DEAD", "SENT")),
    ]
    for attribute, value, index in partitions:
        query: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": f"{attribute} = :value",
            "ExpressionAttributeValues": {":value": {"S": value}},
        }
        if index is not None:
            query["IndexName"] = index
        for item in client.query(**query).get("Items", []):
            client.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})
