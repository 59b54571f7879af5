"""The authorizer's costs (issue 8), measured side by side in one run and written to its
section of docs/benchmarks.md (`authorize_report.py` writes the text).

1. `POST /v1/authorize` over HTTP against a raw ASGI JSON endpoint (`http_servers.raw_json`),
   each one uvicorn worker with the same options (`http_servers.UVICORN`: uvloop, httptools,
   no access log) on 127.0.0.1. `tenantry serve` takes no uvicorn options, so tenantry is
   served twice: by uvicorn on `http_servers.tenantry_app` (built as `serve` builds it) with
   the raw endpoint's options, and by a real `tenantry serve` (uvicorn's defaults pick uvloop
   and httptools when they are installed; the run checks that it loaded them). The load
   comes from `http_load.py` in another process: 32 keep-alive connections, one request in
   flight each, the same request bytes for every server. A round gives each server 1 s of
   warm-up and 5 s measured, in alternating order; the figures are medians of three rounds.
   The load generator reports the CPU the server and it used: what bounds each figure.
2. `authorize` of a never-seen token, called in process through the edge as the route calls
   it (`Runner`, `run_use_case`), against bare signature verification of the same token
   (`jwt.decode` with its public key and the arguments tenantry passes), and tenantry's token
   check between the two. The tokens are issued up front, one refresh of the member's session
   each, so no call has seen them; the three take turns on every token; medians of the CPU
   time per call (this thread's, so the figure holds on a shared machine).
   Then cProfile on authorize alone, over more fresh tokens.
3. Where the server's CPU goes: the same request through tenantry's ASGI app in process (no
   server, no socket), a threadpool hop and the request log line measured alone, and a
   cProfile of the in-process requests across the event loop and the threadpool.

Data, made through tenantry itself: two users made by the operator's use case (`tenantry user
create --verified`), an organisation its owner registers over HTTP, the member added through
the store's membership port (there is no invitation use case yet), a custom role created and
assigned over HTTP. The load asks, with the member's access token, for a permission the role
holds: a warm decision (the member's snapshot is compiled once, then cached). tenantry runs
with TENANTRY_ENV=production on SQLite (JSON request log, no /metrics, no docs); every answer
counted was checked to be 200 with `"allowed":true`.

Run: .venv/bin/pip install -e ".[bench]"   (uvicorn[standard]: uvloop and httptools)
     .venv/bin/python benchmarks/authorize_http.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from asgi_in_process import (
    cpu_per_hop,
    cpu_per_log_line,
    cpu_per_request,
    log_as_the_server_does,
    post_scope,
    send_requests,
)
from authorize_report import AUTHORIZE, BARE, CHECK, Figures, Method, lines
from http_servers import HERE, Server, servers
from profile_table import Profiled, profiled, profiled_in_every_thread
from report import replace_section

from tenantry.accounts import service as accounts
from tenantry.authorizer import service as authorizer
from tenantry.authorizer.service import Authorization
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.client import TenantryClient
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.http.app import create_app
from tenantry.runner import Runner
from tenantry.sessions import sign_in
from tenantry.settings import Settings
from tenantry.store.sql.migrate import migrate

METHOD = Method(
    connections=32,
    rounds=3,
    warmup_seconds=1.0,
    measured_seconds=5.0,
    fresh_tokens=2000,
    profiled_tokens=1000,
    in_process_requests=2000,
)
PASSWORD = "correct horse battery staple"
PERMISSION = "site:publish"
ROLE_PERMISSIONS = ["site:*", "page:read", "page:update", "report:export"]


# --- the set-up -----------------------------------------------------------------------------


def settings_values(folder: Path) -> dict[str, str]:
    """What the servers read as TENANTRY_* and this process as Settings: one store, one key."""
    return {
        "env": "production",
        "database_url": f"sqlite:///{folder / 'tenantry.db'}",
        "secret_key": "benchmark-secret-" + "x" * 32,
        "secret_key_file": str(folder / "secret"),
        "public_url": "https://tenantry.example.com",
        "mailer": "files",
        "mail_dir": str(folder / "mail"),
    }


def open_here(values: dict[str, str]) -> Tenantry:
    """This process's tenantry on the servers' store, migrated and with its signing keys."""
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    migrate(settings.database_url)
    tenantry = bootstrap(settings)
    prepare_to_serve(tenantry)
    return tenantry


@dataclass(frozen=True)
class Member:
    org_id: str
    access_token: str
    refresh_token: str


def seed(tenantry: Tenantry, base: str) -> Member:
    """One organisation, one member holding a custom role; the member's tokens for it."""
    owner_email, member_email = "owner@bench.example.com", "member@bench.example.com"
    operator_creates_user(tenantry, owner_email)
    member_id = operator_creates_user(tenantry, member_email)
    with TenantryClient(base, trust_env=False) as client:
        owner = client.login(owner_email, PASSWORD)
        org = {"name": "Bench", "slug": "bench"}
        made = client.request("POST", "/v1/organisations", token=owner.access_token, json=org)
        org_id = str(made["id"])
        add_member(tenantry, org_id, member_id, member_email)
        owner = client.login(owner_email, PASSWORD, org_id)
        role = client.create_role(owner.access_token, org_id, "Editor", ROLE_PERMISSIONS)
        client.assign_role(owner.access_token, org_id, member_id, role.id)
        member = client.login(member_email, PASSWORD, org_id)
        answer = client.authorize(member.access_token, org_id, PERMISSION)
    if not answer.allowed:
        raise SystemExit(f"the member is not allowed {PERMISSION}: {answer}")
    return Member(org_id, member.access_token, member.refresh_token)


def operator_creates_user(tenantry: Tenantry, email: str) -> str:
    # The use case `tenantry user create --verified` runs.
    user = Runner(tenantry, principal=SYSTEM)(
        lambda uow: accounts.create_user(
            uow, tenantry.deps, SYSTEM, email=email, password=PASSWORD, name="Bench", verified=True
        )
    )
    return user.id


def add_member(tenantry: Tenantry, org_id: str, user_id: str, email: str) -> None:
    # Through the membership port, as the test harness does: no invitation use case yet.
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        status, now = MembershipStatus.ACTIVE, tenantry.clock.now()
        uow.memberships.add(Membership(org_id, user_id, OrgRole.MEMBER, status, now, email=email))
        uow.commit()


# --- 1. over HTTP ---------------------------------------------------------------------------


def authorize_headers(member: Member) -> dict[str, str]:
    return {"Authorization": f"Bearer {member.access_token}", "Content-Type": "application/json"}


def authorize_body(member: Member) -> bytes:
    return json.dumps({"organisation_id": member.org_id, "permission": PERMISSION}).encode()


def authorize_request(port: int, member: Member) -> str:
    """The request's bytes on the wire, the same for every server."""
    body = authorize_body(member).decode()
    headers = {"Host": f"127.0.0.1:{port}", **authorize_headers(member)}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST /v1/authorize HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n{body}"


def load(server: Server, member: Member) -> dict[str, float]:
    """One measured run of `http_load.py` against `server`, in a process of its own."""
    plan = {
        "host": "127.0.0.1",
        "port": server.port,
        "request": authorize_request(server.port, member),
        "connections": METHOD.connections,
        "warmup_seconds": METHOD.warmup_seconds,
        "seconds": METHOD.measured_seconds,
        "server_pid": server.pid,
        "expect": '"allowed":true',
    }
    command = [sys.executable, str(HERE / "http_load.py")]
    done = subprocess.run(command, input=json.dumps(plan), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def http_rounds(started: list[Server], member: Member) -> dict[str, list[dict[str, float]]]:
    """One load result per server a round, the servers' order alternating."""
    rounds: dict[str, list[dict[str, float]]] = {server.name: [] for server in started}
    for round_ in range(METHOD.rounds):
        for server in started if round_ % 2 == 0 else started[::-1]:
            step(f"round {round_ + 1}: {server.name}")
            rounds[server.name].append(load(server, member))
    return rounds


# --- 2. a never-seen token ------------------------------------------------------------------


def authorize_as_the_route_does(tenantry: Tenantry, org_id: str, token: str) -> Authorization:
    run = Runner(tenantry, request_id="benchmark", label="POST /v1/authorize")
    return run(
        lambda uow: authorizer.authorize(
            uow,
            run.deps,
            run.tenantry.authorizer,
            token,
            org_id=org_id,
            permissions=[PERMISSION],
            team_id=None,
            min_epoch=None,
        )
    )


def fresh_tokens(tenantry: Tenantry, member: Member, count: int) -> list[str]:
    """Access tokens no call has seen: one refresh of the member's session each."""
    tokens, refresh_token = [], member.refresh_token
    for _ in range(count):
        pair = refreshed(tenantry, refresh_token)
        tokens.append(pair.access_token)
        refresh_token = pair.refresh_token
    return tokens


def refreshed(tenantry: Tenantry, refresh_token: str) -> sign_in.TokenPair:
    return Runner(tenantry)(
        lambda uow: sign_in.refresh(uow, tenantry.deps, refresh_token=refresh_token, org_id=None)
    )


def bare_verification(tenantry: Tenantry, token: str) -> Callable[[str], object]:
    """`jwt.decode` with the public key of the token's kid and the arguments tenantry gives
    it (the algorithm from the key, audience, issuer, required claims; tenantry checks the
    time claims itself, against its clock)."""
    kid = jwt.get_unverified_header(token)["kid"]
    published: list[dict[str, Any]] = tenantry.signer.public_jwks()["keys"]  # type: ignore[assignment]
    jwk = next(jwk for jwk in published if jwk["kid"] == kid)
    key = jwt.PyJWK(jwk, algorithm=jwk["alg"])
    settings = tenantry.settings
    options: Any = {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "strict_aud": True,
        "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid", "token_use"],
    }
    return lambda given: jwt.decode(
        given,
        key,
        algorithms=[key.algorithm_name],
        audience=settings.audience,
        issuer=settings.token_issuer,
        options=options,
    )


def token_costs(tenantry: Tenantry, member: Member, tokens: list[str]) -> dict[str, float]:
    """Median CPU seconds per call of each (this thread's: the figure holds on a shared
    machine), taking turns on every token."""

    def authorize(token: str) -> None:
        if not authorize_as_the_route_does(tenantry, member.org_id, token).allowed:
            raise SystemExit("a fresh token was not allowed: the benchmark measures nothing")

    actions = {
        BARE: bare_verification(tenantry, tokens[0]),
        CHECK: tenantry.signer.verify_access_token,
        AUTHORIZE: authorize,
    }
    authorize(member.access_token)  # the member's snapshot is compiled once, before timing
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for i, token in enumerate(tokens):
        for name in list(actions) if i % 2 == 0 else list(actions)[::-1]:
            started = time.thread_time()
            actions[name](token)
            samples[name].append(time.thread_time() - started)
    return {name: statistics.median(times) for name, times in samples.items()}


def profile_authorize(tenantry: Tenantry, member: Member, tokens: list[str]) -> Profiled:
    return profiled(
        lambda: [authorize_as_the_route_does(tenantry, member.org_id, t) for t in tokens],
        calls=len(tokens),
    )


# --- 3. inside tenantry's process -----------------------------------------------------------


def app_costs(
    tenantry: Tenantry, member: Member, folder: Path
) -> tuple[dict[str, float], Profiled]:
    """CPU seconds per request through tenantry's ASGI app in this process, per threadpool
    hop and per request log line (JSON, as in production); and a profile of the requests."""
    count = METHOD.in_process_requests
    body = authorize_body(member)
    scope = post_scope("/v1/authorize", authorize_headers(member), body)
    app = create_app(tenantry)
    with log_as_the_server_does(folder / "in-process.log"):
        costs = {
            "request": cpu_per_request(app, scope, body, count),
            "hop": cpu_per_hop(count),
            "log line": cpu_per_log_line(count),
        }
        profile = profiled_in_every_thread(
            lambda: send_requests(app, scope, body, count // 4), calls=count // 4
        )
    return costs, profile


# --- the run --------------------------------------------------------------------------------


def step(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def measure(folder: Path) -> Figures:
    values = settings_values(folder)
    tenantry = open_here(values)
    with servers(values, folder) as started:
        member = seed(tenantry, f"http://127.0.0.1:{started[1].port}")
        http = http_rounds(started, member)
        serve_options = started[2].has_loaded("uvloop", "httptools")
    step(f"issuing {METHOD.fresh_tokens + METHOD.profiled_tokens} fresh tokens")
    tokens = fresh_tokens(tenantry, member, METHOD.fresh_tokens + METHOD.profiled_tokens)
    step("timing a never-seen token's costs, then profiling authorize")
    costs = token_costs(tenantry, member, tokens[: METHOD.fresh_tokens])
    authorize_profile = profile_authorize(tenantry, member, tokens[METHOD.fresh_tokens :])
    step("the ASGI app in process")
    inside, request_profile = app_costs(tenantry, member, folder)
    tenantry.close()
    return Figures(http, serve_options, costs, authorize_profile, inside, request_profile)


def main() -> None:
    tools = [tool for tool in ("wrk", "oha", "hey") if shutil.which(tool)]
    step(f"load generator: http_load.py ({', '.join(tools) or 'no wrk, oha or hey'} installed)")
    with tempfile.TemporaryDirectory(prefix="tenantry-authorize-") as folder:
        figures = measure(Path(folder))
    written = lines(figures, METHOD)
    replace_section(
        "authorize_http.py", "The authorizer over HTTP, and a never-seen token", written
    )
    print("\n".join(written))


if __name__ == "__main__":
    main()
