"""The servers `benchmarks/authorize_http.py` measures, each one uvicorn worker on 127.0.0.1
in a process of its own, and the ASGI apps they serve: a raw JSON endpoint (the floor) and
tenantry, built the way `tenantry serve` builds it (uvicorn imports this module by name).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI

HERE = Path(__file__).resolve().parent
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log"]
# As `tenantry serve` runs uvicorn: no Server header, no proxy believed.
AS_SERVE = ["--no-server-header", "--no-proxy-headers", "--log-level", "warning"]
RAW, TENANTRY, SERVE = "raw ASGI endpoint", "tenantry (uvicorn, same options)", "tenantry serve"

# Shaped like tenantry's answer to the benchmark's question, so both send as many bytes.
ANSWER = json.dumps(
    {
        "allowed": True,
        "decisions": [{"permission": "site:publish", "allowed": True, "reason": "granted"}],
        "user_id": "usr_" + "0" * 24,
        "organisation_id": "org_" + "0" * 24,
        "org_role": "MEMBER",
        "team_ids": [],
        "epoch": 3,
    },
    separators=(",", ":"),
).encode()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def raw_json(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, answer the fixed JSON: what any ASGI endpoint must at least do."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    more_body = True
    while more_body:
        more_body = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
        await send({"type": f"{event}.complete"})
        if event == "lifespan.shutdown":
            return


def tenantry_app() -> FastAPI:
    """What `tenantry serve` runs, for uvicorn's `--factory`: settings from TENANTRY_* (and
    logging configured from them), the store migrated and prepared, the outbox dispatcher and
    job relay started with the app. `serve` also fills in TENANTRY_PUBLIC_URL from the
    listening address when it is unset; the benchmark sets it."""
    from tenantry.cli.command import load_settings, open_tenantry
    from tenantry.http.app import create_app

    return create_app(open_tenantry(load_settings(), prepare=True), run_dispatcher=True)


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    pid: int

    def has_loaded(self, *modules: str) -> bool:
        """Whether the process has mapped each of `modules`' compiled extensions: uvicorn's
        defaults import uvloop and httptools to try them, and use them once imported."""
        maps = Path(f"/proc/{self.pid}/maps").read_text()
        return all(f"/{module}/" in maps for module in modules)


def commands(port: dict[str, int]) -> dict[str, list[str]]:
    """The raw endpoint and tenantry under the same uvicorn options, and `tenantry serve`
    (which takes none: uvicorn's defaults pick uvloop and httptools when installed)."""
    uvicorn = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--host", "127.0.0.1"]
    serve = [sys.executable, "-m", "tenantry.cli", "serve", "--host", "127.0.0.1"]
    return {
        RAW: [*uvicorn, "--port", str(port[RAW]), *UVICORN, *AS_SERVE, "http_servers:raw_json"],
        TENANTRY: [
            *[*uvicorn, "--port", str(port[TENANTRY]), *UVICORN, *AS_SERVE],
            *["--factory", "http_servers:tenantry_app"],
        ],
        SERVE: [*serve, "--port", str(port[SERVE])],
    }


@contextmanager
def servers(settings: dict[str, str], folder: Path) -> Iterator[list[Server]]:
    """The three servers, ready; tenantry's read `settings` as TENANTRY_* variables."""
    ports = dict(zip((RAW, TENANTRY, SERVE), free_ports(3), strict=True))
    env = environment(settings)
    with ExitStack() as stack:
        yield [
            stack.enter_context(running(name, command, env, folder / f"{port}.log", port))
            for (name, command), port in zip(commands(ports).items(), ports.values(), strict=True)
        ]


def environment(settings: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    return inherited | {f"TENANTRY_{name.upper()}": value for name, value in settings.items()}


@contextmanager
def running(
    name: str, command: list[str], env: dict[str, str], log: Path, port: int
) -> Iterator[Server]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, cwd=log.parent, stdout=output, stderr=output)
    try:
        wait_until_ready(port, process, log)
        yield Server(name, port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def wait_until_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{log} did not get ready:\n{log.read_text(errors='replace')[-3000:]}")
