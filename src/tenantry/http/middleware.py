"""Pure ASGI middleware: the header policy, request ids, body size limit and media type,
before any parsing."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote_to_bytes

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.http.errors import problem

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
log = structlog.get_logger()

# Tokens and account data must never sit in a shared or browser cache (RFC 6749 §5.1); a
# response that may be cached says so itself with its own Cache-Control.
_NOT_CACHED = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# JSON loads nothing, so nothing is allowed. The docs pages (HTML) load scripts, styles, fonts
# and the OpenAPI document from this origin only. ReDoc needs the three exceptions: it injects
# <style> elements ('unsafe-inline' styles; no script may be inline), draws data: images and
# runs its search in a blob: worker. Checked in headless Chromium: no violation, both render.
_API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
_HTML_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """Set the header policy (docs/security.md, "Headers") on every response, the early
    refusals of the guards below and the 500s included. `hsts` when the public URL is https."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_policy(list(message.get("headers", [])), self.hsts)
            await send(message)

        await self.app(scope, receive, send_with_policy)


def _with_policy(headers: list[tuple[bytes, bytes]], hsts: bool) -> list[tuple[bytes, bytes]]:
    given = {bytes(name).lower(): bytes(value) for name, value in headers}
    html = given.get(b"content-type", b"").lower().startswith(b"text/html")
    policy = [
        *([] if b"cache-control" in given else _NOT_CACHED),
        *_ALWAYS,
        (b"content-security-policy", _HTML_POLICY if html else _API_POLICY),
        *([_HSTS] if hsts else []),
    ]
    names = {name for name, _ in policy}
    return [(n, v) for n, v in headers if bytes(n).lower() not in names] + policy


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
                path=_loggable_path(scope),
                status=status.get("code"),
            )
            structlog.contextvars.unbind_contextvars("request_id")


# Path parameters that are secrets (an invitation link's token): a path holding one is
# logged as its route's template, so no log line carries it.
SECRET_PATH_PARAMETERS = ("{invitation_token}",)


def _loggable_path(scope: Scope) -> str:
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str) and any(p in template for p in SECRET_PATH_PARAMETERS):
        return template
    path: str = scope["path"]
    return path


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
    """Refuse oversized bodies (413) and bodies that are not JSON (415) early; a path that
    `csv_paths` matches may also take `text/csv`."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, csv_paths: re.Pattern[str] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.csv_paths = csv_paths
        self._too_large = f"the body exceeds {max_body_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            await _problem(scope, send, 413, "payload_too_large", self._too_large)
            return
        media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        has_body = (length and length != "0") or _header(scope, b"transfer-encoding")
        if has_body and not self._accepts(media_type, scope["path"]):
            await _problem(scope, send, 415, "unsupported_media_type", self._expected(scope))
            return
        await self.app(scope, self._limited(receive, scope, send), send)

    def _accepts(self, media_type: str, path: str) -> bool:
        return _is_json(media_type) or (media_type == "text/csv" and self._takes_csv(path))

    def _takes_csv(self, path: str) -> bool:
        return self.csv_paths is not None and self.csv_paths.fullmatch(path) is not None

    def _expected(self, scope: Scope) -> str:
        if self._takes_csv(scope["path"]):
            return "send the body as application/json or text/csv"
        return "send the body as application/json"

    def _limited(self, receive: Receive, scope: Scope, send: Send) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise StarletteHTTPException(413, self._too_large)  # the same problem
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
    """Refuse before any route runs, with the body and headers a route's refusal would have."""
    request_id: str | None = scope.get("state", {}).get("request_id")
    response = problem(status, code, detail, request_id=request_id)
    start = {"type": "http.response.start", "status": status, "headers": response.raw_headers}
    await send(start)
    await send({"type": "http.response.body", "body": response.body})
