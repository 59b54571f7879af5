"""One handler turns every error into RFC 9457 problem+json with a stable `code`.

No stack trace and no exception text from outside tenantry ever reaches a client: anything
unexpected becomes a 500 `internal_error` naming the request id, and is logged in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantry.domain import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger()

STATUS_BY_ERROR: dict[type[errors.TenantryError], int] = {
    errors.Invalid: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}


def status_of(error: errors.TenantryError) -> int:
    """The HTTP status a refusal is answered with."""
    return next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(error, cls)), 400)


TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem. Clients branch on `code`; some codes add members of their own
    (`permission`, `path`, `errors`), listed in docs/errors.md."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="Always `about:blank`: `code` says what it is.")
    title: str = Field(description="The HTTP status in words.")
    status: int = Field(description="The HTTP status code.")
    code: str = Field(description="The stable machine code (docs/errors.md); never changes.")
    detail: str = Field(description="For people; may change.")
    request_id: str | None = Field(None, description="Also in `X-Request-ID` and the logs.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="`validation_failed` only: `[{field, message}]`."
    )


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str | None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The one problem+json renderer: a refusal from a route, a handler or the middleware has
    this shape (the title from `TITLES`, the same keys, the same encoding)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": request_id,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) if request else None
    return problem(status, code, detail, request_id=request_id, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.TenantryError, _tenantry_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


def _tenantry_error(request: Request, error: errors.TenantryError) -> JSONResponse:
    status = status_of(error)
    headers: dict[str, str] = {}
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return problem_response(
        request, status, error.code, error.detail, headers=headers, **error.extra
    )


def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return problem_response(
            request, 400, "malformed_json", "the request body is not valid JSON"
        )
    detail, fields = invalid_fields(problems)
    return problem_response(request, 422, "validation_failed", detail, errors=fields)


def invalid_fields(problems: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """The `validation_failed` detail and `errors` for pydantic's list of problems."""
    fields = [
        {
            "field": ".".join(str(part) for part in p.get("loc", ()) if part != "body"),
            "message": p.get("msg", ""),
        }
        for p in problems
    ]
    names = ", ".join(f["field"] or "body" for f in fields)
    return f"invalid fields: {names}", fields


def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    # Only JSON bodies get past the body guard, so a framework 400 means one that cannot be
    # parsed (bad UTF-8, nesting or numbers too large): the same refusal as broken syntax.
    codes = {
        400: "malformed_json",
        404: "route_not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }
    detail = str(error.detail) if error.status_code < 500 else "internal error"
    code = codes.get(error.status_code, "http_error")
    return problem_response(
        request, error.status_code, code, detail, headers=getattr(error, "headers", None)
    )


def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("http.unexpected_error", path=request.url.path)
    return problem_response(request, 500, "internal_error", "an unexpected error occurred")
