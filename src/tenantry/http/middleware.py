"""Pure ASGI middleware: request ids, body size limit and media type, before any parsing."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.http.errors import PROBLEM_MEDIA_TYPE

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
log = structlog.get_logger()


class RequestContext:
    """Give every request an id (the caller's if it is sane), log it, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-request-id")
        request_id = (
            supplied if supplied and _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status.get("code"),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class UrlGuard:
    """Refuse a NUL character in the path or query (400): no id or filter holds one, and
    PostgreSQL cannot even compare text containing it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _url_has_nul(scope):
            await _problem(
                scope, send, 400, "invalid_characters", "the URL contains a NUL character"
            )
            return
        await self.app(scope, receive, send)


def _url_has_nul(scope: Scope) -> bool:
    query = unquote_to_bytes(scope.get("query_string", b""))
    return "\x00" in scope["path"] or b"\x00" in query


class BodyGuard:
    """Refuse oversized bodies (413) and bodies that are not JSON (415) early."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            await _problem(
                scope,
                send,
                413,
                "payload_too_large",
                f"the body exceeds {self.max_body_bytes} bytes",
            )
            return
        media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if ((length and length != "0") or _header(scope, b"transfer-encoding")) and not _is_json(
            media_type
        ):
            await _problem(
                scope, send, 415, "unsupported_media_type", "send the body as application/json"
            )
            return
        await self.app(scope, self._limited(receive, scope, send), send)

    def _limited(self, receive: Receive, scope: Scope, send: Send) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise StarletteHTTPException(
                        413, f"the body exceeds {self.max_body_bytes} bytes"
                    )
            return message

        return limited_receive


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _problem(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    request_id: Any = scope.get("state", {}).get("request_id")
    body = json.dumps(
        {
            "type": "about:blank",
            "title": detail,
            "status": status,
            "code": code,
            "detail": detail,
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
