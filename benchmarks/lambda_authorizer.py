"""The Lambda authorizer's cold start and warm invocation, written to docs/benchmarks.md.

Run: .venv/bin/python benchmarks/lambda_authorizer.py

Each cold start is a fresh Python process, as a new Lambda container is: it imports
`tenantry.aws.authorizer`, and its first invocation builds the tenantry (settings, store,
keys) and decides. The same process then measures warm invocations, and beside them, taking
turns, the same decision asked of tenantry's authorizer service directly, so that the ratio
is what the handler adds (reading the event, the route, the policy). The store is the
embedded SQLite in a temporary folder; a Lambda would use PostgreSQL (or DynamoDB later), so
read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from report import cpu_model, replace_section
from starlette.testclient import TestClient

from tenantry.accounts import service as accounts
from tenantry.bootstrap import bootstrap, prepare_to_serve
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tenantry.http.app import create_app
from tenantry.settings import Settings
from tenantry.store.sql.migrate import migrate

COLD_STARTS = 7
WARM_CALLS = 2000
PASSWORD = "correct horse battery staple"
ROUTES = {"POST /sites/{id}/publish": "site:publish"}
ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/sites/s1/publish"

# What one cold container runs, timing itself.
CONTAINER = f"""
import json, statistics, sys, time
started = time.perf_counter()
from tenantry.aws import authorizer
imported = time.perf_counter()
event = {{"type": "TOKEN", "authorizationToken": "Bearer " + sys.argv[1], "methodArn": {ARN!r}}}
answer = authorizer.handler(event, None)
first = time.perf_counter()
assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
warm = authorizer._warm
from tenantry.authorizer import service
from tenantry.runner import Runner
def direct():
    run = Runner(warm.tenantry)
    return run(lambda uow: service.authorize(uow, run.deps, warm.tenantry.authorizer,
        sys.argv[1], org_id=None, permissions=["site:publish"], issuers=warm.tenantry.issuers))
handler_times, direct_times = [], []
for _ in range({WARM_CALLS}):
    t = time.perf_counter(); authorizer.handler(event, None); handler_times.append(time.perf_counter() - t)
    t = time.perf_counter(); direct(); direct_times.append(time.perf_counter() - t)
print(json.dumps({{"import": imported - started, "first": first - imported,
    "warm": statistics.median(handler_times), "direct": statistics.median(direct_times)}}))
"""


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="benchmark-secret-" + "x" * 32,
        secret_key_file=folder / "secret",
    )
    migrate(settings.database_url)
    token = owner_token(settings)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")},
        "TENANTRY_DATABASE_URL": settings.database_url,
        "TENANTRY_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TENANTRY_SECRET_KEY_FILE": str(folder / "secret"),
        "TENANTRY_AWS_ROUTES": json.dumps(ROUTES),
    }
    runs = [cold_start(token, environment) for _ in range(COLD_STARTS)]
    write_report({name: statistics.median(run[name] for run in runs) for name in runs[0]})


def owner_token(settings: Settings) -> str:
    """An access token of an organisation's owner, made through the HTTP app in process."""
    tenantry = bootstrap(settings)
    prepare_to_serve(tenantry)
    run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: accounts.create_user(
            uow, tenantry.deps, SYSTEM, email="o@example.com", password=PASSWORD, name="O",
            verified=True,
        ),
        clock=tenantry.clock,
    )
    with TestClient(create_app(tenantry)) as client:
        login = client.post("/v1/auth/login", json={"email": "o@example.com", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        org = client.post("/v1/organisations", json={"name": "Bench", "slug": "bench"}, headers=bearer)
        refresh = {"refresh_token": login.json()["refresh_token"], "organisation_id": org.json()["id"]}
        token: str = client.post("/v1/auth/refresh", json=refresh).json()["access_token"]
    tenantry.close()
    return token


def cold_start(token: str, environment: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", CONTAINER, token],
        env=environment,
        capture_output=True,
        check=True,
        text=True,
    )
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def write_report(results: dict[str, float]) -> None:
    ms = {name: value * 1000 for name, value in results.items()}
    lines = [
        f"Written by `benchmarks/lambda_authorizer.py`: medians of {COLD_STARTS} cold starts",
        "(each a fresh process, as a new container) and, in each of them,",
        f"{WARM_CALLS} warm invocations taking turns with the same decision asked of the",
        "authorizer service directly. SQLite store; compare the ratios.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{platform.system()}.",
        "",
        "| | median |",
        "|---|---|",
        f"| cold: import `tenantry.aws.authorizer` | {ms['import']:.1f} ms |",
        f"| cold: first invocation (build tenantry, then decide) | {ms['first']:.1f} ms |",
        f"| warm invocation (REST TOKEN event to policy) | {ms['warm']:.3f} ms |",
        f"| the same decision, asked of the service directly | {ms['direct']:.3f} ms |",
        "",
        f"Warm handler : direct service ratio: **{results['warm'] / results['direct']:.2f}** "
        "(what reading the event, matching the route and building the policy add).",
    ]
    replace_section("lambda_authorizer.py", "The Lambda authorizer: cold start and warm", lines)


if __name__ == "__main__":
    main()
