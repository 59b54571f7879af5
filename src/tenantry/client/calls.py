"""What each client method sends and how it reads the answer, shared by the sync and the
async client so that the two differ only in how they wait."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tenantry.client.errors import Unavailable, problem_of
from tenantry.client.models import Authorization, Me, TokenPair, Written

T = TypeVar("T")

EPOCH_HEADER = "Tenantry-Authz-Epoch"
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures where the request may not have reached tenantry, or the connection broke.
# A read timeout is not among them: retrying it would multiply the caller's wait.
RETRIED_ERRORS = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    token: str | None = None
    retryable: bool = False  # idempotent, or read-only like `authorize`

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        return http.build_request(self.method, self.path, json=self.json, headers=headers)

    def answer(self, response: httpx.Response) -> T:
        if response.is_error:
            raise problem_of(response)
        return self.read(response)


@dataclass(frozen=True)
class Retries:
    """`count` retries after the first try, waiting `backoff`, then twice that, and so on up
    to `max_backoff` (or the 503's shorter `Retry-After`). Only 503s and connection failures
    of retryable calls are retried; a 4xx never is."""

    count: int = 2
    backoff: float = 0.05
    max_backoff: float = 1.0
    statuses: frozenset[int] = field(default=frozenset({503}))

    def delay(
        self, call: Call[Any], retry: int, outcome: httpx.Response | Exception
    ) -> float | None:
        """Seconds to wait before retry number `retry` (0 first), or None: do not retry."""
        if not call.retryable or retry >= self.count:
            return None
        if isinstance(outcome, Exception):
            return self._wait(retry) if isinstance(outcome, RETRIED_ERRORS) else None
        if outcome.status_code not in self.statuses:
            return None
        asked = outcome.headers.get("Retry-After", "")
        return min(float(asked), self.max_backoff) if asked.isdigit() else self._wait(retry)

    def _wait(self, retry: int) -> float:
        return float(min(self.backoff * 2**retry, self.max_backoff))


def unreachable(error: httpx.TransportError) -> Unavailable:
    """A failure to talk to tenantry at all, as the 503 a product handles anyway."""
    detail = f"tenantry did not answer: {type(error).__name__}: {error}"
    return Unavailable(503, "unreachable", detail)


# --- reading answers ------------------------------------------------------------------------


def body_of(response: httpx.Response) -> dict[str, Any]:
    if response.status_code == 204 or not response.content:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {"items": body}


def written(response: httpx.Response) -> Written:
    return Written(body_of(response), int(response.headers[EPOCH_HEADER]))


def nothing(response: httpx.Response) -> None:
    return None


def _segment(value: str) -> str:
    return quote(value, safe="")


def _org(org_id: str, *rest: str) -> str:
    return "/".join(["/v1/organisations", *map(_segment, (org_id, *rest))])


# --- the calls ------------------------------------------------------------------------------


def login(email: str, password: str, organisation_id: str | None) -> Call[TokenPair]:
    body = {"email": email, "password": password, "organisation_id": organisation_id}
    return Call("POST", "/v1/auth/login", lambda r: TokenPair.of(body_of(r)), json=body)


def refresh(refresh_token: str, organisation_id: str | None) -> Call[TokenPair]:
    body = {"refresh_token": refresh_token, "organisation_id": organisation_id}
    return Call("POST", "/v1/auth/refresh", lambda r: TokenPair.of(body_of(r)), json=body)


def logout(token: str, refresh_token: str | None) -> Call[None]:
    body = {"refresh_token": refresh_token} if refresh_token else None
    return Call("POST", "/v1/auth/logout", nothing, json=body, token=token)


def authorize(
    token: str,
    organisation_id: str,
    permission: str | Sequence[str],
    *,
    team_id: str | None,
    min_epoch: int | None,
    explain: bool,
) -> Call[Authorization]:
    asked: dict[str, Any] = (
        {"permission": permission}
        if isinstance(permission, str)
        else {"permissions": list(permission)}
    )
    body = {"organisation_id": organisation_id, **asked, "explain": explain}
    if team_id is not None:
        body["team_id"] = team_id
    if min_epoch is not None:
        body["min_epoch"] = min_epoch
    read = lambda r: Authorization.of(body_of(r))  # noqa: E731
    return Call("POST", "/v1/authorize", read, json=body, token=token, retryable=True)


def me(token: str) -> Call[Me]:
    return Call("GET", "/v1/me", lambda r: Me.of(body_of(r)), token=token, retryable=True)


def create_role(
    token: str,
    org_id: str,
    name: str,
    permissions: Sequence[str],
    *,
    description: str | None,
    scope: str | None,
) -> Call[Written]:
    body: dict[str, Any] = {"name": name, "permissions": list(permissions)}
    if description is not None:
        body["description"] = description
    if scope is not None:
        body["scope"] = scope
    return Call("POST", _org(org_id, "roles"), written, json=body, token=token)


def assign_role(token: str, org_id: str, user_id: str, role_id: str) -> Call[Written]:
    path = _org(org_id, "members", user_id, "roles", role_id)
    return Call("PUT", path, written, token=token, retryable=True)


def create_team(token: str, org_id: str, name: str, *, description: str | None) -> Call[Written]:
    body = {"name": name} if description is None else {"name": name, "description": description}
    return Call("POST", _org(org_id, "teams"), written, json=body, token=token)


def add_team_member(
    token: str, org_id: str, team_id: str, user_id: str, team_role: str
) -> Call[Written]:
    body = {"user_id": user_id, "team_role": team_role}
    return Call("POST", _org(org_id, "teams", team_id, "members"), written, json=body, token=token)


def request(method: str, path: str, *, token: str | None, json: Any) -> Call[dict[str, Any]]:
    verb = method.upper()
    return Call(verb, path, body_of, json=json, token=token, retryable=verb in IDEMPOTENT_METHODS)
