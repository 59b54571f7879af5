"""Named dependencies that read like the rule they enforce (`Run`, `PublicRun`, `Client`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tenantry.bootstrap import Tenantry
from tenantry.context import ServiceDeps
from tenantry.domain.errors import Unauthenticated
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.sessions import service as sessions
from tenantry.sessions.sign_in import ClientInfo
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")


class Runner:
    """Runs one use case for this request: its own unit of work, one commit (`run_use_case`)."""

    def __init__(
        self,
        tenantry: Tenantry,
        request_id: str,
        principal: Principal | None,
        label: str | None = None,
    ) -> None:
        self.tenantry = tenantry
        self.request_id = request_id
        self.principal = principal
        self.label = label

    @property
    def caller(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("a bearer token is required", code="missing_token")
        return self.principal

    @property
    def deps(self) -> ServiceDeps:
        return self.tenantry.deps

    def __call__(self, use_case: Callable[[UnitOfWork], T], *, read_only: bool = False) -> T:
        return run_use_case(
            self.tenantry.store.unit_of_work,
            use_case,
            clock=self.tenantry.clock,
            org_id=self.principal.org_id if self.principal else None,
            user_id=self.principal.user_id if self.principal else None,
            request_id=self.request_id,
            read_only=read_only,
            label=self.label,
        )


def get_tenantry(request: Request) -> Tenantry:
    tenantry: Tenantry = request.app.state.tenantry
    return tenantry


def get_request_id(request: Request) -> str:
    return str(request.state.request_id)


def get_client(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


# Declared so that the OpenAPI document (and /docs) shows which routes take a bearer token;
# refusing a missing one is ours to do, as problem+json.
_bearer_scheme = HTTPBearer(auto_error=False, description="An access token from /v1/auth/login")


def get_principal(
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("a bearer token is required", code="missing_token")
    token = credentials.credentials.strip()
    runner = Runner(tenantry, request_id, None)
    return runner(lambda uow: sessions.authenticate(uow, tenantry.deps, token), read_only=True)


def _route_label(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def get_public_runner(
    request: Request,
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
) -> Runner:
    return Runner(tenantry, request_id, None, _route_label(request))


def get_runner(
    request: Request,
    tenantry: Annotated[Tenantry, Depends(get_tenantry)],
    request_id: Annotated[str, Depends(get_request_id)],
    principal: Annotated[Principal, Depends(get_principal)],
) -> Runner:
    return Runner(tenantry, request_id, principal, _route_label(request))


PublicRun = Annotated[Runner, Depends(get_public_runner)]
Run = Annotated[Runner, Depends(get_runner)]
Client = Annotated[ClientInfo, Depends(get_client)]
App = Annotated[Tenantry, Depends(get_tenantry)]
