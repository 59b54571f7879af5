"""The product route's refusals, as problem+json (RFC 9457): the shape tenantry's own have."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    409: "Conflict",
    422: "Invalid request",
    503: "Unavailable",
}
# tenantry's refusals that are about the question, not about tenantry: passed on as they are.
_PASSED_ON = frozenset({401, 409, 422})


class Refused(HTTPException):
    """A refusal of the product's route, carrying its problem+json body."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        problem = {
            "type": "about:blank",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "code": code,
            "detail": detail,
            **extra,
        }
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
        super().__init__(status_code=status, detail=problem, headers=headers)
        self.problem = problem


def refused_by_tenantry(status: int, code: str, detail: str) -> Refused:
    """tenantry's refusal of a check, as the route's: a 401 (the token), a 409
    (`epoch_not_reached`: the caller's epoch is ahead of tenantry's) and a 422 keep tenantry's
    status and code; anything else is tenantry failing to answer, and the route stays closed."""
    if status in _PASSED_ON:
        return Refused(status, code, detail)
    return authorizer_unavailable()


def authorizer_unavailable() -> Refused:
    return Refused(503, "authorizer_unavailable", "tenantry could not answer")


def add_problem_handler(app: FastAPI) -> None:
    """Render `Refused` as problem+json (without it FastAPI still answers the right status,
    with `{"detail": {...}}`)."""

    async def render(request: Request, refused: Exception) -> JSONResponse:
        assert isinstance(refused, Refused)
        return JSONResponse(
            refused.problem,
            status_code=refused.status_code,
            headers=refused.headers,
            media_type=PROBLEM_MEDIA_TYPE,
        )

    app.add_exception_handler(Refused, render)
