"""What a client method sends and how it reads the answer, shared by the sync and the async
client so that the two differ only in how they wait.

Each endpoint has one builder, a function returning a `Call` (`calls_account`, `calls_org`,
`calls_access`); this module holds what they share. A builder's signature is the method's:
`sync.blocking` and `aio.awaiting` turn it into a method of each client.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_args, get_type_hints
from urllib.parse import quote

import httpx

from tenantry.client.errors import Unavailable, problem_of
from tenantry.client.models import Body, Page, Written

T = TypeVar("T")
Method = TypeVar("Method", bound=Callable[..., Any])

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
    params: dict[str, str] | None = None
    read_only: bool = False  # a POST or PATCH that changes nothing (`authorize`, a dry run)

    @property
    def retryable(self) -> bool:
        """Sending it twice does no more than sending it once."""
        return self.read_only or self.method in IDEMPOTENT_METHODS

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        return http.build_request(
            self.method, self.path, json=self.json, params=self.params, headers=headers
        )

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


def named_for(method: Method, build: Callable[..., Any], client: str) -> Method:
    """`method`, made of `build` for the class named `client`, named and documented as the
    builder is, so that `help()` shows the endpoint's own parameters and docstring."""
    method.__name__ = build.__name__
    method.__qualname__ = f"{client}.{build.__name__}"
    method.__doc__ = build.__doc__
    vars(method)["__signature__"] = _method_signature(build)
    return method


def _method_signature(build: Callable[..., Any]) -> inspect.Signature:
    # The builder's parameters after `self`, answering what its `Call[T]` reads: T.
    signature = inspect.signature(build)
    me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    [answer] = get_args(get_type_hints(build)["return"])
    return signature.replace(
        parameters=[me, *signature.parameters.values()], return_annotation=answer
    )


# --- reading answers ------------------------------------------------------------------------

Reader = Callable[[httpx.Response], T]


def body_of(response: httpx.Response) -> Body:
    if response.status_code == 204 or not response.content:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {"items": body}


def epoch_of(response: httpx.Response) -> int:
    return int(response.headers[EPOCH_HEADER])


def nothing(response: httpx.Response) -> None:
    return None


def read_as(parse: Callable[[Body], T]) -> Reader[T]:
    return lambda response: parse(body_of(response))


def page_of(parse: Callable[[Body], T]) -> Reader[Page[T]]:
    return lambda response: Page.of(body_of(response), parse)


def items_of(parse: Callable[[Body], T]) -> Reader[tuple[T, ...]]:
    """A list that is not paged: `{"items": [...]}`, whole."""
    return lambda response: tuple(parse(item) for item in body_of(response)["items"])


def written_as(parse: Callable[[Body], T]) -> Reader[Written[T]]:
    """An access change that answers with what it wrote, and the epoch header."""
    return lambda response: Written.of(body_of(response), epoch_of(response), parse)


def written_nothing(response: httpx.Response) -> Written[None]:
    """An access change that answers 204, and the epoch header."""
    return Written({}, epoch_of(response), None)


# --- writing requests -----------------------------------------------------------------------


def segment(value: str) -> str:
    return quote(value, safe="")


def org_path(org_id: str, *rest: str) -> str:
    """`/v1/organisations/{org_id}/...`, every id quoted as one path segment."""
    return "/".join(["/v1/organisations", *map(segment, (org_id, *rest))])


def paging(limit: int | None, cursor: str | None) -> dict[str, str]:
    """A list's query: the server's page size unless `limit` is given; `cursor` is the
    previous page's `next_cursor`."""
    query = {} if limit is None else {"limit": str(limit)}
    return query if cursor is None else {**query, "cursor": cursor}


def given(**fields: Any) -> dict[str, Any]:
    """The fields that are not None: what a PATCH changes (absent means unchanged)."""
    return {name: value for name, value in fields.items() if value is not None}


def request(
    method: str, path: str, *, token: str | None = None, json: Any = None
) -> Call[dict[str, Any]]:
    """Any v1 call by its method and path: the answer's JSON body (`{}` for a 204). GET,
    PUT and DELETE are retried like the typed reads; other methods are not."""
    return Call(method.upper(), path, body_of, json=json, token=token)
