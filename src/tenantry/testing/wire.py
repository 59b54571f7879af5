"""What the probe needs of an HTTP client, and how it calls one.

`httpx.Client(base_url=...)` against a started server has this shape, and so does
Starlette's `TestClient` over the app in process: the probe runs the same walk on both.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Protocol


class Response(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class Client(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response: ...


class ProbeError(Exception):
    """The probe could not build its world on the target: what it asked, and the answer."""


def new_request_id() -> str:
    """A request id the service keeps (8 to 64 of `[A-Za-z0-9._-]`): its audit events carry
    it, so each event found is tied to the one call that caused it."""
    return "probe-" + secrets.token_hex(12)


def send(
    client: Client,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any | None = None,
    request_id: str | None = None,
    origin: str | None = None,
) -> Response:
    headers = {"X-Request-ID": request_id or new_request_id()}
    if origin is not None:
        headers["Origin"] = origin
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, path, json=body, headers=headers)


def expect(response: Response, status: int | tuple[int, ...], what: str) -> Any:
    """The JSON body of an answer that must be `status` (or one of them) while the world is
    built."""
    wanted = status if isinstance(status, tuple) else (status,)
    if response.status_code not in wanted:
        raise ProbeError(f"{what}: expected {status}, got {response.status_code}: {response.text}")
    return json_of(response)


def json_of(response: Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    json_body = "json" in response.headers.get("content-type", "") and response.text
    return response.json() if json_body else None
