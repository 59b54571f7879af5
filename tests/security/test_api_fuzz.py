"""Property-based fuzzing of every operation in the live OpenAPI document (Schemathesis).

Whatever a client sends — valid, invalid or malicious by the schema — tenantry answers with
a client error or success, never a 500, and every error is problem+json with a `code`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import status_code_conformance

from tenantry.http.app import create_app
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    build_tenantry,
    copy_sqlite,
    test_settings,
)
from tests.smtp_server import SmtpServer

MAX_EXAMPLES = 25  # per operation: the CI budget


@pytest.fixture
def fuzz_state(
    sqlite_template: Path, tmp_path: Path, smtp_server: SmtpServer
) -> Iterator[dict[str, Any]]:
    url = copy_sqlite(sqlite_template, tmp_path / "fuzz.db")
    clock = TestClock()
    app_state = build_tenantry(
        test_settings(StoreTarget("sqlite", url, url), tmp_path), clock, smtp_server
    )
    api = Api(app_state, Mailbox(app_state, smtp_server))
    yield {"app": create_app(app_state), "api": api, "clock": clock}
    app_state.close()


def test_no_request_makes_tenantry_fail(fuzz_state: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_state["app"])
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid operation in the live document: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 19  # every route of the live document is fuzzed
    for operation in operations:
        # A fresh owner per operation: fuzzing logout or DELETE must not blind the others; a
        # fresh throttle window for its sign-up (every owner signs up from the same client).
        fuzz_state["clock"].advance(hours=1)
        owner, _org = fuzz_state["api"].owner_with_org()
        _fuzz(operation, owner.auth)


def _fuzz(operation: Any, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        response = case.call(headers=auth)
        assert response.status_code < 500, f"{operation.label}: {response.text}"
        # Every status answered is one the document lists for this operation.
        case.validate_response(response, checks=[status_code_conformance])
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json")
            assert response.json()["code"]

    check()
