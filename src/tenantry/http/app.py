"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

import tenantry
from tenantry.accounts import routes as accounts
from tenantry.bootstrap import Tenantry
from tenantry.flows.dispatcher import OutboxDispatcher
from tenantry.http import health
from tenantry.http.errors import Problem, install_error_handlers
from tenantry.http.middleware import BodyGuard, RequestContext, UrlGuard
from tenantry.keys import routes as keys
from tenantry.organisations import routes as organisations
from tenantry.sessions import routes as sessions

_PROBLEMS = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}


def create_app(app_state: Tenantry, *, run_dispatcher: bool = False) -> FastAPI:
    """Build the API around a bootstrapped `Tenantry`.

    `run_dispatcher` starts the email outbox dispatcher with the app (as `tenantry serve` does);
    tests leave it off and dispatch explicitly.
    """
    app = FastAPI(
        title="tenantry",
        version=tenantry.__version__,
        lifespan=_lifespan(app_state, run_dispatcher),
        responses=_PROBLEMS,  # type: ignore[arg-type]
    )
    app.state.tenantry = app_state
    install_error_handlers(app)
    for module in (accounts, sessions, organisations, keys, health):
        app.include_router(module.router)
    app.add_middleware(BodyGuard, max_body_bytes=app_state.settings.max_body_bytes)
    app.add_middleware(UrlGuard)
    app.add_middleware(RequestContext)
    return app


def _lifespan(
    app_state: Tenantry, run_dispatcher: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dispatcher = None
        if run_dispatcher:
            dispatcher = OutboxDispatcher(
                app_state.store.unit_of_work,
                app_state.mailer,
                clock=app_state.clock,
                max_attempts=app_state.settings.outbox_max_attempts,
                poll_seconds=app_state.settings.outbox_poll_seconds,
            )
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    return lifespan
