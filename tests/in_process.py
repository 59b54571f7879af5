"""The HTTP API in process, one hop per request: `InProcessClient(app)` in place of
Starlette's `TestClient(app)`.

`TestClient` starts a thread with a new event loop for every request it sends (unless it is
entered, which runs the app's lifespan and so its background dispatcher) and crosses between
the two threads about nine times: about 3 ms of the 8 ms a `GET /v1/me` took, and requests
are most of what the suite's time goes on. Here every client of the test process
shares one event loop on a daemon thread; a request is one hand-over onto it, where httpx's
own `ASGITransport` runs the app to its last byte. The lifespan is not run, as with a
`TestClient` that is not entered; the app sees the same client address ("testclient").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

CLIENT_ADDRESS = ("testclient", 50000)  # what TestClient puts in the ASGI scope

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def shared_loop() -> asyncio.AbstractEventLoop:
    """The test process's event loop for in-process requests, started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="in-process-asgi", daemon=True).start()
            _loop = loop
        return _loop


class _Chunks(httpx.AsyncByteStream):
    """A request body given as a plain iterator of chunks, sent chunk by chunk as given."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class OneHopTransport(httpx.BaseTransport):
    def __init__(
        self, app: ASGIApp, *, raise_app_exceptions: bool, client: tuple[str, int]
    ) -> None:
        self._asgi = httpx.ASGITransport(
            app=app, raise_app_exceptions=raise_app_exceptions, client=client
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            request.stream = _Chunks(request.stream)  # a body given as an iterator
        return asyncio.run_coroutine_threadsafe(self._send(request), shared_loop()).result()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        answered = await self._asgi.handle_async_request(request)
        # The body as sent (still encoded, if the app compressed it): the client decodes it.
        raw = b"".join([chunk async for chunk in answered.aiter_raw()])
        return httpx.Response(
            answered.status_code,
            headers=answered.headers,
            stream=httpx.ByteStream(raw),
            request=request,
        )


class InProcessClient(TestClient):
    """A `TestClient` (same calls, same responses) whose requests take one hop each."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_server_exceptions: bool = True,
        client: tuple[str, int] = CLIENT_ADDRESS,
        **options: Any,
    ) -> None:
        super().__init__(
            app, raise_server_exceptions=raise_server_exceptions, client=client, **options
        )
        self._transport = OneHopTransport(
            app, raise_app_exceptions=raise_server_exceptions, client=client
        )
