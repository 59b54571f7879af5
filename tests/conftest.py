"""Fixtures: every store-backed test runs on SQLite and on PostgreSQL with forced RLS, and the
modules marked `ON_EVERY_STORE` (harness.py) on DynamoDB (AWS's DynamoDB Local) too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tenantry.bootstrap import Tenantry
from tenantry.store.dynamo import store as dynamo_store
from tenantry.store.dynamo.table import create_table
from tenantry.store.sql.migrate import migrate
from tests import token_sweep
from tests.dynamodb_local import CHOICE as DYNAMODB_CHOICE
from tests.dynamodb_local import DynamoDbEndpoint, NoScans, dynamodb  # noqa: F401
from tests.harness import (
    ON_EVERY_STORE,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    build_tenantry,
    copy_sqlite,
    leaked_tokens,
    postgres_target,
    test_settings,
)
from tests.postgres_server import PgUrls, pg_urls, postgres_admin_url  # noqa: F401
from tests.smtp_server import SmtpServer, smtp_server  # noqa: F401
from tests.temporal_server import fresh_temporal_server, temporal_server  # noqa: F401

STORES = ["sqlite", "postgres"]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(DYNAMODB_CHOICE) == "moto" and os.environ.get("CI") == "true":
        raise pytest.UsageError(
            f"{DYNAMODB_CHOICE}=moto is for quick local runs: CI runs DynamoDB Local"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On moto, the races on DynamoDB are skipped: moto applies racing transactions without
    isolating them (both commit, or it fails), so they prove nothing there."""
    if os.environ.get(DYNAMODB_CHOICE) != "moto":
        return
    skip = pytest.mark.skip(reason=f"a race needs DynamoDB Local: unset {DYNAMODB_CHOICE}")
    for item in items:
        params = getattr(item, "callspec", None)
        on_dynamo = params is not None and "dynamo" in params.params.values()
        if on_dynamo and item.get_closest_marker("races"):
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)  # before the fixture's own parameters are made
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`ON_EVERY_STORE_USED`: the store-backed tests of the module run on DynamoDB too."""
    marked = metafunc.definition.get_closest_marker("every_store") is not None
    if marked and "store_target" in metafunc.fixturenames and not _stores_chosen(metafunc):
        # As a mark, which pytest's own hooks then apply in place of the fixture's parameters.
        metafunc.definition.add_marker(ON_EVERY_STORE)


def _stores_chosen(metafunc: pytest.Metafunc) -> bool:
    """Whether the test names its stores itself (`parametrize("store_target", ...)`)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "store_target" in (
            names.replace(" ", "").split(",") if isinstance(names, str) else names
        ):
            return True
    return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per worker; each test gets a copy, so tests never share SQLite state."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(pg_urls: PgUrls) -> PgUrls:  # noqa: F811
    migrate(pg_urls.owner_url, runtime_url=pg_urls.runtime_url)
    return pg_urls


@contextmanager
def _new_table(dynamodb: DynamoDbEndpoint) -> Iterator[str]:  # noqa: F811
    client, table = dynamodb.client(), f"tenantry-{uuid.uuid4().hex[:12]}"
    create_table(client, table)
    try:
        yield dynamodb.store_url(table)
    finally:
        client.delete_table(TableName=table)


@pytest.fixture
def dynamo_table_url(dynamodb: DynamoDbEndpoint) -> Iterator[str]:  # noqa: F811
    """A table of the test's own, as SQLite tests get a database of their own: made in a few
    milliseconds, and what the test reads whole (the token sweep) stays small. (One table
    for all of a worker's tests grew to tens of thousands of items, and moto's reads slow
    down as a table grows.)"""
    with _new_table(dynamodb) as url:
        yield url


@pytest.fixture(params=STORES)
def store_target(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> StoreTarget:
    if request.param == "sqlite":
        url = copy_sqlite(sqlite_template, tmp_path / "tenantry.db")
        return StoreTarget("sqlite", url, url)
    if request.param == "dynamo":
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, "local")  # DynamoDB Local takes any
        # The store the test's app opens fails the test on a Scan: requests read by key and
        # by index only.
        opened = dynamo_store.dynamo_client
        monkeypatch.setattr(dynamo_store, "dynamo_client", lambda target: NoScans(opened(target)))
        url = request.getfixturevalue("dynamo_table_url")
        return StoreTarget("dynamo", url, url)
    return postgres_target(request.getfixturevalue("migrated_postgres"))


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def tenantry(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,  # noqa: F811
) -> Iterator[Tenantry]:
    app = build_tenantry(test_settings(store_target, tmp_path), clock, smtp_server)
    yield app
    app.close()
    leaked = leaked_tokens(store_target)
    assert not leaked, f"invitation tokens in audit events or the outbox: {sorted(leaked)}"


@pytest.fixture
def mailbox(tenantry: Tenantry, smtp_server: SmtpServer) -> Mailbox:  # noqa: F811
    return Mailbox(tenantry, smtp_server)


@pytest.fixture
def api(tenantry: Tenantry, mailbox: Mailbox) -> Api:
    return Api(tenantry, mailbox)


@pytest.fixture(autouse=True)
def _token_sweep() -> None:
    token_sweep.start_test()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fails, at teardown, a test whose responses or output hold a mailed invitation token."""
    report = yield
    if call.when != "teardown" or not token_sweep.MAILED:
        return report
    output = "\n".join(content for _, content in report.sections)
    leaked = token_sweep.leaks_in_responses() | token_sweep.secrets_in(output)
    if leaked:
        report.outcome = "failed"
        report.longrepr = f"invitation tokens in responses or log lines: {sorted(leaked)}"
    return report
