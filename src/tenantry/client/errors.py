"""tenantry's refusals as exceptions: one per status a product branches on.

Every refusal tenantry makes is RFC 9457 problem+json with a stable `code` (docs/errors.md);
branch on the class or on `code`, never on `detail`.
"""

from __future__ import annotations

from typing import Any

import httpx


class TenantryProblem(Exception):
    """A refusal from tenantry (or, with code `http_<status>`, an answer that was not
    problem+json, such as a proxy's error page)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        request_id: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.body: dict[str, Any] = body or {}


class Unauthorized(TenantryProblem):
    """401: the token is missing, malformed, forged or expired."""


class Forbidden(TenantryProblem):
    """403."""


class NotFound(TenantryProblem):
    """404, also for another organisation's objects."""


class Conflict(TenantryProblem):
    """409, `epoch_not_reached` among others (the body's `epoch` is the current one)."""


class Gone(TenantryProblem):
    """410: an emailed link that was used already, expired, or was replaced by a newer one."""


class Invalid(TenantryProblem):
    """422: `validation_failed` (the body's `errors` name the fields), `invalid_permission`…"""


class RateLimited(TenantryProblem):
    """429; `retry_after` is the number of seconds tenantry asked the caller to wait."""

    def __init__(self, *args: Any, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class Unavailable(TenantryProblem):
    """503, raised once the retries (for calls that may be retried) are used up."""


_BY_STATUS: dict[int, type[TenantryProblem]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: RateLimited,
    503: Unavailable,
}


def problem_of(response: httpx.Response) -> TenantryProblem:
    """The exception for an error answer."""
    body = _json_object(response)
    status = response.status_code
    code = str(body.get("code") or f"http_{status}")
    detail = str(body.get("detail") or response.reason_phrase or "")
    request_id = body.get("request_id") or response.headers.get("X-Request-ID")
    kind = _BY_STATUS.get(status, TenantryProblem)
    options: dict[str, Any] = {"request_id": request_id, "body": body}
    if kind is RateLimited:
        options["retry_after"] = _seconds(response.headers.get("Retry-After"))
    return kind(status, code, detail, **options)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(header: str | None) -> int | None:
    # tenantry sends delta-seconds; an HTTP date (from a proxy) is not worth parsing here.
    return int(header) if header is not None and header.isdigit() else None
