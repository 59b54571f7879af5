"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

import tenantry
from tenantry.accounts import routes as accounts
from tenantry.audit import routes as audit
from tenantry.authorizer import routes as authorizer
from tenantry.bootstrap import Tenantry
from tenantry.flows.background import PollingThread
from tenantry.flows.dispatcher import JobRelay, OutboxDispatcher
from tenantry.http import health
from tenantry.http.docs import install_docs
from tenantry.http.errors import Problem, install_error_handlers
from tenantry.http.metrics import install_metrics
from tenantry.http.middleware import BodyGuard, RequestContext, SecurityHeaders, UrlGuard
from tenantry.http.openapi import install_openapi, problems
from tenantry.invitations import routes as invitations
from tenantry.keys import routes as keys
from tenantry.members import routes as members
from tenantry.organisations import routes as organisations
from tenantry.roles import routes as roles
from tenantry.sessions import routes as sessions
from tenantry.teams import routes as teams

_DESCRIPTION = (
    "Multi-tenant access management: accounts and sign-in, organisations and their members, "
    "custom roles with wildcard permissions, teams, org-scoped access tokens verifiable "
    "through the JWKS. Every error is "
    "`application/problem+json` with a stable `code` (see docs/errors.md); each operation "
    "lists the problems it can answer with."
)


class _TenantryApi(FastAPI):
    """FastAPI with tenantry's header policy and request id as its outermost layers.

    Starlette puts the handler of unexpected errors outside every added middleware; wrapping
    the whole stack here lets the 500 it renders carry the headers and the request id too.
    """

    def __init__(self, *, hsts: bool, **options: Any) -> None:
        super().__init__(**options)
        self._hsts = hsts

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(RequestContext(super().build_middleware_stack()), hsts=self._hsts)


def create_app(app_state: Tenantry, *, run_dispatcher: bool = False) -> FastAPI:
    """Build the API around a bootstrapped `Tenantry`.

    `run_dispatcher` starts the email outbox dispatcher with the app (as `tenantry serve` does);
    tests leave it off and dispatch explicitly.
    """
    settings = app_state.settings
    app = _TenantryApi(
        hsts=settings.resolved_public_url().startswith("https://"),
        title="tenantry",
        version=tenantry.__version__,
        lifespan=_lifespan(app_state, run_dispatcher),
        description=_DESCRIPTION,
        responses=problems(400, 500, 503),  # any route: a NUL in the URL, a bug, a store down
        # A slash redirect is built from the Host header (and a 307 replays a login body).
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
    )
    app.state.tenantry = app_state
    install_error_handlers(app)
    install_openapi(app, Problem.model_json_schema())
    features = (
        accounts,
        sessions,
        organisations,
        members,
        roles,
        teams,
        invitations,
        authorizer,
        audit,
        keys,
    )
    for module in (*features, health):
        app.include_router(module.router)
    app.include_router(teams.me_router)
    app.include_router(invitations.public_router)
    if settings.serves_docs:
        install_docs(app)
    app.add_middleware(
        BodyGuard, max_body_bytes=settings.max_body_bytes, csv_paths=invitations.CSV_BODY_PATHS
    )
    app.add_middleware(UrlGuard)
    if settings.serves_metrics:
        install_metrics(app, app_state)  # after the guards: their refusals are counted too
    return app


def _lifespan(
    app_state: Tenantry, run_dispatcher: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threads = _background_threads(app_state) if run_dispatcher else []
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            for thread in threads:
                thread.stop()

    return lifespan


def _background_threads(app_state: Tenantry) -> list[PollingThread]:
    """The relay that starts jobs a dead process left pending, and the outbox dispatcher unless
    the deployment runs it apart (`serve_dispatches_outbox`)."""
    settings = app_state.settings
    threads: list[PollingThread] = [
        JobRelay(app_state.jobs, poll_seconds=settings.outbox_poll_seconds)
    ]
    if settings.serve_dispatches_outbox:
        dispatcher = OutboxDispatcher(
            app_state.store.unit_of_work,
            app_state.mailer,
            clock=app_state.clock,
            max_attempts=settings.outbox_max_attempts,
            poll_seconds=settings.outbox_poll_seconds,
        )
        threads.append(dispatcher)
    return threads
