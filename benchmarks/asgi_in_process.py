"""What a request costs inside an ASGI app, driven in this process without a server or a
socket, in CPU seconds of the whole process (the event loop and the threadpool); and, on their
own, what a threadpool hop and tenantry's request log line cost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import anyio.to_thread
import structlog
import uvloop
from starlette.types import ASGIApp, Message, Scope

from tenantry.logging import configure_logging


def post_scope(path: str, headers: dict[str, str], body: bytes) -> Scope:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*raw, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def answer_status(app: ASGIApp, scope: Scope, body: bytes) -> int:
    """Send one request through `app`; the status it answered."""
    given, status = False, 0

    async def receive() -> Message:
        nonlocal given
        if given:  # the client stays: nothing more comes
            await asyncio.Event().wait()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


def cpu_per_request(app: ASGIApp, scope: Scope, body: bytes, count: int) -> float:
    return _cpu_per_call(lambda: _answered(app, scope, body), count)


def send_requests(app: ASGIApp, scope: Scope, body: bytes, count: int) -> None:
    """`count` requests one after another, on an event loop (and threadpool) of their own."""

    async def run() -> None:
        for _ in range(count):
            await _answered(app, scope, body)

    uvloop.run(run())


async def _answered(app: ASGIApp, scope: Scope, body: bytes) -> None:
    if (status := await answer_status(app, scope, body)) != 200:
        raise SystemExit(f"the app answered {status}: the benchmark measures nothing")


def cpu_per_hop(count: int) -> float:
    """One round trip of a no-op through anyio's threadpool, as Starlette's
    `run_in_threadpool` makes it."""
    return _cpu_per_call(lambda: anyio.to_thread.run_sync(_nothing), count)


def _nothing() -> None:
    return None


def _cpu_per_call(call: Callable[[], Awaitable[object]], count: int) -> float:
    async def run() -> float:
        await call()  # the threadpool starts, caches warm up
        started = time.process_time()
        for _ in range(count):
            await call()
        return (time.process_time() - started) / count

    return uvloop.run(run())


def log_as_the_server_does(into: Path) -> TextIO:
    """structlog as TENANTRY_ENV=production configures it (JSON lines), writing to `into`
    rather than this process's stdout. The caller closes the file."""
    configure_logging(as_json=True)
    output = into.open("a")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(output))
    return output


def cpu_per_log_line(count: int) -> float:
    """The line `RequestContext` logs for every request, with its request id bound."""
    log = structlog.get_logger()
    structlog.contextvars.bind_contextvars(request_id=uuid.uuid4().hex)
    started = time.process_time()
    for _ in range(count):
        log.info("http.request", method="POST", path="/v1/authorize", status=200)
    structlog.contextvars.unbind_contextvars("request_id")
    return (time.process_time() - started) / count
