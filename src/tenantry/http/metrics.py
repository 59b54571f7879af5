"""Prometheus metrics at `GET /metrics`: requests by route template and status, sign-in
outcomes, throttle refusals, the outbox's backlog and the database pool (docs/metrics.md).

Requests are labelled by the route's template (`/v1/organisations/{org_id}`), never by the
raw path, and by a method from a fixed set, so no client can add series. The metrics live in
a registry of the app's own, not the process-wide default: two apps in one process (as in
the tests) neither share nor clash.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.bootstrap import Tenantry
from tenantry.domain.errors import TenantryError, Unauthenticated

log = structlog.get_logger()

UNMATCHED = "unmatched"  # the route of a request no route matched (404)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LOGIN = ("POST", "/v1/auth/login")
_LABELS = ("method", "route", "status")


class Metrics:
    """The request metrics one app counts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tenantry_http_requests",
            "HTTP requests answered, by method, route template and status.",
            _LABELS,
            registry=registry,
        )
        self.latency = Histogram(
            "tenantry_http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer.",
            _LABELS,
            registry=registry,
        )
        self.logins = Counter(
            "tenantry_logins",
            "POST /v1/auth/login answers: success (200), throttled (429), failure (other).",
            ("outcome",),
            registry=registry,
        )
        self.throttled = Counter(
            "tenantry_throttle_refusals",
            "Requests refused with 429 (a throttle or a cap), by route template.",
            ("route",),
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in _METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        if status == 429:
            self.throttled.labels(route).inc()
        if (method, route) == _LOGIN:
            self.logins.labels(_login_outcome(status)).inc()


def _login_outcome(status: int) -> str:
    if status == 200:
        return "success"
    return "throttled" if status == 429 else "failure"


class RequestMetrics:
    """Pure ASGI middleware: time and count every HTTP request under its route template,
    which the router has written into the scope by the time the answer is on its way."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], _route_template(scope), status, elapsed)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class StoreCollector(Collector):
    """Read at each scrape: the outbox's backlog (through its port) and the SQL pool."""

    def __init__(self, tenantry: Tenantry) -> None:
        self._tenantry = tenantry

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not read the store; the names come with each scrape

    def collect(self) -> Iterable[Metric]:
        yield from self._outbox()
        yield from self._pool()

    def _outbox(self) -> Iterable[Metric]:
        now = self._tenantry.clock.now()
        try:
            with self._tenantry.store.unit_of_work() as uow:
                stats = uow.outbox.stats(now)
        except TenantryError as error:  # the store is down: the rest of the scrape answers
            log.warning("metrics.outbox_unread", code=error.code)
            return
        oldest = stats.oldest_pending_at
        age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        yield _gauge("tenantry_outbox_pending", "Emails waiting to be sent.", stats.pending)
        yield _gauge("tenantry_outbox_due", "Pending emails whose attempt is due.", stats.due)
        yield _gauge(
            "tenantry_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending email (0 when none waits).",
            age,
        )

    def _pool(self) -> Iterable[Metric]:
        pool = getattr(getattr(self._tenantry.store, "engine", None), "pool", None)
        if not isinstance(pool, QueuePool):  # the memory store has no pool
            return
        yield _gauge("tenantry_db_pool_size", "Connections the pool keeps.", pool.size())
        yield _gauge("tenantry_db_pool_checked_out", "Connections in use now.", pool.checkedout())
        yield _gauge("tenantry_db_pool_checked_in", "Idle pooled connections.", pool.checkedin())
        yield _gauge(
            "tenantry_db_pool_overflow",
            "Connections open beyond the pool size (negative: the pool is not full yet).",
            pool.overflow(),
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def install_metrics(app: FastAPI, tenantry: Tenantry) -> None:
    """Count every request (call this after the app's other `add_middleware`, so the
    guards' early refusals are counted too) and serve `GET /metrics`, behind
    `TENANTRY_METRICS_TOKEN` as a bearer token when it is set."""
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    registry.register(StoreCollector(tenantry))
    token = tenantry.settings.metrics_token

    def scrape(request: Request) -> Response:
        if token is not None:
            _require_bearer(request, token.get_secret_value())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics, metrics=metrics)


def _require_bearer(request: Request, expected: str) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthenticated("a bearer token is required", code="missing_token")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthenticated("the metrics token is not valid", code="invalid_token")
