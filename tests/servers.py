"""Real `tenantry serve` processes for tests that talk to tenantry over the network, and the
operator-side set-up (users, memberships) those tests make in this process on the same store.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.types import ASGIApp

from tenantry.accounts import service as accounts
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.runner import Runner
from tenantry.settings import Settings
from tenantry.testing.issuer import trusted_issuer_entry
from tests.harness import (
    PASSWORD,
    StoreTarget,
    bearer,
    copy_sqlite,
    postgres_target,
    test_settings,
    unique_email,
    unique_slug,
)

STARTUP_SECONDS = 60.0
HTTP_TIMEOUT = 30.0  # above SQLite's 15 s busy timeout, so the server answers first

Started = tuple[str, subprocess.Popen[bytes], Path]  # base URL, process, its log


@dataclass(frozen=True)
class Served:
    """One `tenantry serve` process, and a tenantry in this process on the same store."""

    base: str
    target: StoreTarget
    tenantry: Tenantry


def store_target_for(request: pytest.FixtureRequest, folder: Path) -> StoreTarget:
    """`store_target` for a fixture wider than a test (`params=STORES`): a server started once
    for a module. SQLite: a copy of the template of its own; PostgreSQL: the shared database."""
    if request.param == "sqlite":
        url = copy_sqlite(request.getfixturevalue("sqlite_template"), folder / "tenantry.db")
        return StoreTarget("sqlite", url, url)
    return postgres_target(request.getfixturevalue("migrated_postgres"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One real `tenantry serve` per store for a whole test module (import it into one)."""
    folder = tmp_path_factory.mktemp("tenantry")
    with served(store_target_for(request, folder), folder) as started:
        yield started


@contextmanager
def served(target: StoreTarget, folder: Path) -> Iterator[Served]:
    """A ready server on `target` (SQLite: the file this process opens too). It runs no
    outbox dispatcher: on the shared PostgreSQL a server kept for a whole module would
    otherwise take other tests' email and print it (its mailer is the console)."""
    settings = test_settings(target, folder, serve_dispatches_outbox=False)
    tenantry = bootstrap(settings)
    prepare_to_serve(tenantry)  # the signing keys exist before the server starts
    with ExitStack() as stack:
        stack.callback(tenantry.close)
        started = stack.enter_context(serving(environment(settings), folder / "server"))
        yield Served(ready(*started), target, tenantry)


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment without TENANTRY_* from outside, plus what `settings` set
    (the suite's `test_settings`) as the variables a server reads, and the console mailer."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    values = {name: getattr(settings, name) for name in settings.model_fields_set}
    values["mailer"] = "console"
    given = {name: value for name, value in values.items() if value is not None}
    return inherited | {f"TENANTRY_{name.upper()}": _text(value) for name, value in given.items()}


def probed_environment(settings: Settings, smtp_port: int, issuer_port: int) -> dict[str, str]:
    """A server's environment for `tenantry probe`: its mail to the probe's SMTP port, the
    probe's issuer trusted, the outbox sent at once."""
    entry = trusted_issuer_entry("127.0.0.1", issuer_port)
    return environment(settings) | {
        "TENANTRY_MAILER": "smtp",
        "TENANTRY_SMTP_HOST": "127.0.0.1",
        "TENANTRY_SMTP_PORT": str(smtp_port),
        "TENANTRY_OUTBOX_POLL_SECONDS": "0.2",
        "TENANTRY_TRUSTED_ISSUERS": json.dumps([entry]),
    }


def _text(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)  # a SecretStr
    return str(reveal() if reveal is not None else value)


@contextmanager
def serving(environment: dict[str, str], folder: Path) -> Iterator[Started]:
    """`tenantry serve` in a child process of this interpreter, on a free loopback port."""
    folder.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "tenantry.cli", "serve", "--host", "127.0.0.1"]
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "--port", str(port)],
            env=environment,
            cwd=folder,  # no stray `.env`
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A free loopback port that no earlier server of this process was given: what a product
    remembers of a tenantry (tenantry.fastapi's key set per base URL) must not meet another
    tenantry, on another store with other keys, at the same URL later in the run."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def ready(base: str, process: subprocess.Popen[bytes], log: Path) -> str:
    # A real process starts in its own time: poll /readyz (the store answers) until it does.
    deadline = time.monotonic() + STARTUP_SECONDS
    with http_client(base) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get("/readyz").status_code == 200:
                    return base
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{base} did not get ready (exit code {process.poll()}):\n{tail}")


def http_client(base: str) -> httpx2.Client:
    # trust_env=False: no proxy from the environment, the traffic stays on loopback.
    return httpx2.Client(base_url=base, timeout=HTTP_TIMEOUT, trust_env=False)


def operator_made_user(tenantry: Tenantry, email: str) -> str:
    # The use case `tenantry user create --verified` runs, without a process of its own.
    user = Runner(tenantry, principal=SYSTEM)(
        lambda uow: accounts.create_user(
            uow, tenantry.deps, SYSTEM, email=email, password=PASSWORD, name="Ops", verified=True
        )
    )
    return user.id


def add_membership(tenantry: Tenantry, org_id: str, user_id: str, email: str) -> None:
    # As `tests.harness.Api.add_membership` does: invitations are not the subject here.
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        now = tenantry.clock.now()
        status = MembershipStatus.ACTIVE
        uow.memberships.add(
            Membership(org_id, user_id, OrgRole.MEMBER, status, now, email=email, name="Member")
        )
        uow.commit()


def logged_in(client: httpx2.Client, email: str, org_id: str | None = None) -> str:
    body = {"email": email, "password": PASSWORD, "organisation_id": org_id}
    response = client.post("/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass(frozen=True)
class Organisation:
    """An owner's organisation with one member, both signed in to it."""

    org_id: str
    owner_id: str
    owner: str  # access tokens for the organisation
    member_id: str
    member: str
    member_email: str


def an_organisation_with_a_member(server: Served) -> Organisation:
    """Users made by the operator (as `tenantry user create --verified` does), the
    organisation made over HTTP by its owner, the member added without an invitation."""
    owner_email, member_email = unique_email("owner"), unique_email("member")
    owner_id = operator_made_user(server.tenantry, owner_email)
    member_id = operator_made_user(server.tenantry, member_email)
    with http_client(server.base) as client:
        made = client.post(
            "/v1/organisations",
            json={"name": "Acme", "slug": unique_slug()},
            headers=bearer(logged_in(client, owner_email)),
        )
        assert made.status_code == 201, made.text
        org_id: str = made.json()["id"]
        add_membership(server.tenantry, org_id, member_id, member_email)
        owner = logged_in(client, owner_email, org_id)
        member = logged_in(client, member_email, org_id)
    return Organisation(org_id, owner_id, owner, member_id, member, member_email)


@contextmanager
def serving_in_thread(app: ASGIApp) -> Iterator[str]:
    """`app` on a free loopback port, served by uvicorn in a thread of this process; its
    base URL. For stubs and for apps a test must see inside (counters, mounts)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
