"""Property-based fuzzing of every operation in the live OpenAPI document (Schemathesis).

Whatever a client sends — valid, invalid or malicious by the schema — tenantry answers with
a client error or success, never a 500, with a status the document lists and a body its
schema describes, and every error is problem+json with a `code`. Then chains of calls
(create, read, update, delete) linked through the ids one answer gives the next.

CI runs a bounded budget; `./scripts/fuzz-long` runs a long one (`TENANTRY_FUZZ_EXAMPLES`,
`TENANTRY_FUZZ_CHAINS`) and writes which documented statuses it reached to docs/security.md.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tenantry.http.app import create_app
from tests.access_builders import made_role, made_team, org_path
from tests.harness import (
    Account,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    build_tenantry,
    copy_sqlite,
    test_settings,
    unique_email,
)
from tests.smtp_server import SmtpServer

MAX_EXAMPLES = int(os.environ.get("TENANTRY_FUZZ_EXAMPLES", "25"))  # per operation
CHAINS = int(os.environ.get("TENANTRY_FUZZ_CHAINS", "30"))  # chains of up to CHAIN_STEPS calls
CHAIN_STEPS = 6
REPORT = os.environ.get("TENANTRY_FUZZ_REPORT")  # where the long run writes what it reached
CHECKS = [status_code_conformance, response_schema_conformance]

# Statuses answered, by operation: the long run's report of what it reached.
REACHED: dict[str, set[int]] = defaultdict(set)
DOCUMENTED: dict[str, list[int]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_what_was_reached() -> Iterator[None]:
    yield
    if REPORT:
        report = {
            "examples_per_operation": MAX_EXAMPLES,
            "chains": CHAINS,
            "chain_steps": CHAIN_STEPS,
            "operations": {
                label: {"documented": statuses, "reached": sorted(REACHED[label])}
                for label, statuses in DOCUMENTED.items()
            },
        }
        with open(REPORT, "w") as file:
            json.dump(report, file, indent=2)


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
        # A fresh world per operation: fuzzing logout or DELETE must not blind the others; a
        # fresh throttle window for its sign-ups (every owner signs up from the same client).
        fuzz_state["clock"].advance(hours=1)
        owner, ids = world(fuzz_state["api"])
        _fuzz(operation, owner.auth, ids)
    DOCUMENTED.update({op.label: _documented(op) for op in operations})


class Swapped:
    """The app Schemathesis calls, swapped for a fresh tenantry before each chain: a chain
    replayed by Hypothesis must meet the same world, not the one earlier chains left."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_chains_of_linked_calls_never_make_tenantry_fail(
    sqlite_template: Path, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Schemathesis links the operations by the ids their answers hold (an organisation's
    `id` into `{org_id}`, a team's into `{team_id}`, …) and runs chains of them as an owner,
    each chain on a fresh database."""
    target = Swapped()
    opened: list[Any] = []
    owner: dict[str, str] = {}

    def fresh_world() -> None:
        url = copy_sqlite(sqlite_template, tmp_path / f"chain-{len(opened)}.db")
        settings_ = test_settings(StoreTarget("sqlite", url, url), tmp_path)
        tenantry = build_tenantry(settings_, TestClock(), smtp_server)
        opened.append(tenantry)
        target.app = create_app(tenantry)
        account, _ = Api(tenantry, Mailbox(tenantry, smtp_server)).owner_with_org()
        owner.update(account.auth)

    fresh_world()
    schema = schemathesis.openapi.from_asgi("/openapi.json", target)
    machine = schema.as_state_machine()
    steps: list[str] = []

    class Chained(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            fresh_world()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": dict(owner)}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            steps.append(case.operation.label)
            _check(case, response)

    try:
        Chained.run(
            settings=settings(
                max_examples=CHAINS,
                stateful_step_count=CHAIN_STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
        )
    finally:
        for tenantry in opened:
            tenantry.close()
    assert len(set(steps)) >= 10, "the chains reached too few operations"


def world(api: Api) -> tuple[Account, dict[str, str]]:
    """An owner, and the ids of real objects of their organisation, for the path."""
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    invited = api.client.post(
        org_path(owner, "invitations"), json={"email": unique_email("fuzz")}, headers=owner.auth
    )
    assert invited.status_code == 201, invited.text
    return owner, {
        "org_id": org["id"],
        "user_id": member.user_id,
        "role_id": made_role(api, owner, "Fuzzed", ["site:read"]),
        "team_id": made_team(api, owner, "Fuzzed"),
        "invitation_id": invited.json()["id"],
    }


def _with_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Half the examples (by the drawn path) name the world's real objects, so that the
    fuzz gets past the lookups to the rules; the other half keep the ids drawn."""
    drawn = case.path_parameters or {}
    if zlib.crc32(json.dumps(drawn, sort_keys=True, default=str).encode()) % 2:
        return
    for name in drawn.keys() & ids.keys():
        drawn[name] = ids[name]


def _fuzz(operation: Any, auth: dict[str, str], ids: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        _with_real_ids(case, ids)
        _check(case, case.call(headers=auth))

    check()


def _check(case: Any, response: Any) -> None:
    REACHED[case.operation.label].add(response.status_code)
    assert response.status_code < 500, f"{case.operation.label}: {response.text}"
    # Every status answered is one the document lists, with a body its schema describes.
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
        assert response.json()["code"]


def _documented(operation: Any) -> list[int]:
    return sorted(int(s) for s in operation.definition.raw.get("responses", {}) if s.isdigit())
