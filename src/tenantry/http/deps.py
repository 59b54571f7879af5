"""Named dependencies that read like the rule they enforce (`Run`, `PublicRun`, `Client`).

They do no I/O and are `async`, so FastAPI runs them on the event loop: a request makes one
hop into the threadpool (its route), and authentication shares the use case's unit of work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tenantry.bootstrap import Tenantry
from tenantry.domain.errors import Unauthenticated
from tenantry.runner import Runner
from tenantry.sessions.sign_in import ClientInfo


async def get_tenantry(request: Request) -> Tenantry:
    tenantry: Tenantry = request.app.state.tenantry
    return tenantry


async def get_request_id(request: Request) -> str:
    return str(request.state.request_id)


async def get_client(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


# Declared so that the OpenAPI document (and /docs) shows which routes take a bearer token;
# refusing a missing one is ours to do, as problem+json.
_bearer_scheme = HTTPBearer(auto_error=False, description="An access token from /v1/auth/login")


def _route_label(request: Request) -> str:
    route = request.scope.get("route")
    # `request.url` builds a URL object: only when there is no route to name (not per request).
    path = route.path if route is not None and hasattr(route, "path") else request.url.path
    return f"{request.method} {path}"


async def get_public_runner(
    request: Request,
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
) -> Runner:
    return Runner(tenantry, request_id=request_id, label=_route_label(request))


async def get_runner(
    request: Request,
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Runner:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("a bearer token is required", code="missing_token")
    token = credentials.credentials.strip()
    return Runner(tenantry, request_id=request_id, token=token, label=_route_label(request))


async def get_optional_runner(
    request: Request,
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Runner:
    """For a route that anyone may call, and that acts for the bearer when there is one."""
    token = credentials.credentials.strip() if credentials is not None else ""
    return Runner(tenantry, request_id=request_id, token=token or None, label=_route_label(request))


async def get_bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> str:
    """The bearer token as given, for a route that checks it itself (the authorizer)."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("a bearer token is required", code="missing_token")
    return credentials.credentials.strip()


PublicRun = Annotated[Runner, Depends(get_public_runner)]
BearerToken = Annotated[str, Depends(get_bearer_token)]
Run = Annotated[Runner, Depends(get_runner)]
MaybeRun = Annotated[Runner, Depends(get_optional_runner)]
Client = Annotated[ClientInfo, Depends(get_client)]
App = Annotated[Tenantry, Depends(get_tenantry)]
