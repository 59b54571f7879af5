"""`require(...)`: a FastAPI dependency that lets a product route run only when tenantry
allows the bearer the permission, and hands the route who is asking.

    tenantry = AsyncTenantryClient("http://tenantry:8000")
    MayPublish = Annotated[
        Principal, Depends(require("site:publish", client=tenantry, org_from="org_id"))
    ]

    @app.post("/orgs/{org_id}/sites/{site_id}/publish")
    async def publish(site_id: str, who: MayPublish) -> ...

The organisation comes from a path parameter (`org_from`) or, by default, the
`X-Organisation-Id` header; the team, when the check is team-scoped, from the path
parameter `team_from`. A `Tenantry-Authz-Epoch` request header is passed on as `min_epoch`,
so a caller that just changed access (and got that header back) is never answered from
older state. Every decision is tenantry's, through `POST /v1/authorize`: nothing is decided
here. Refusals are `Refused` exceptions; `add_problem_handler(app)` renders them as
problem+json (without it FastAPI still answers the right status, with `{"detail": {...}}`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from tenantry.client import EPOCH_HEADER, AsyncTenantryClient, Authorization, TenantryProblem
from tenantry.client.errors import Unauthorized

ORGANISATION_HEADER = "X-Organisation-Id"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 503: "Unavailable"}

ClientSource = AsyncTenantryClient | Callable[[Request], AsyncTenantryClient]


@dataclass(frozen=True)
class Principal:
    """Who the route runs for, as tenantry answered at `epoch`."""

    user_id: str
    organisation_id: str
    org_role: str | None
    team_ids: tuple[str, ...]
    team_id: str | None  # the team the check was scoped to, if any
    epoch: int | None
    authorization: Authorization  # the whole answer: decisions, reasons, grants
    token: str  # the bearer, to call tenantry on the caller's behalf


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


def add_problem_handler(app: FastAPI) -> None:
    """Render `Refused` as problem+json (RFC 9457), the shape tenantry's own refusals have."""

    async def render(request: Request, refused: Exception) -> JSONResponse:
        assert isinstance(refused, Refused)
        return JSONResponse(
            refused.problem,
            status_code=refused.status_code,
            headers=refused.headers,
            media_type=PROBLEM_MEDIA_TYPE,
        )

    app.add_exception_handler(Refused, render)


def require(
    permission: str | Sequence[str],
    *,
    client: ClientSource,
    org_from: str | None = None,
    org_header: str = ORGANISATION_HEADER,
    team_from: str | None = None,
    explain: bool = False,
) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency: 401 without a bearer tenantry accepts, 403 `permission_denied` (with
    tenantry's `reason`) when it denies, 400 without an organisation, 503 when tenantry
    cannot answer (never allowed by default). `client` is the client, or a function of the
    request that returns it (`lambda r: r.app.state.tenantry`, for one made in a lifespan).
    Several permissions must all be allowed."""
    asked = permission if isinstance(permission, str) else tuple(permission)

    async def check(request: Request) -> Principal:
        token = _bearer(request)
        org_id = _organisation(request, org_from, org_header)
        team_id = request.path_params[team_from] if team_from else None
        tenantry = client if isinstance(client, AsyncTenantryClient) else client(request)
        answer = await _ask(tenantry, token, org_id, asked, team_id, _min_epoch(request), explain)
        if not answer.allowed:
            raise _denied(answer)
        return Principal(
            user_id=answer.user_id,
            organisation_id=answer.organisation_id,
            org_role=answer.org_role,
            team_ids=answer.team_ids,
            team_id=team_id,
            epoch=answer.epoch,
            authorization=answer,
            token=token,
        )

    return check


async def _ask(
    tenantry: AsyncTenantryClient,
    token: str,
    org_id: str,
    asked: str | tuple[str, ...],
    team_id: str | None,
    min_epoch: int | None,
    explain: bool,
) -> Authorization:
    try:
        return await tenantry.authorize(
            token, org_id, asked, team_id=team_id, min_epoch=min_epoch, explain=explain
        )
    except Unauthorized as refused:
        raise Refused(401, refused.code, refused.detail) from refused
    except TenantryProblem as problem:
        # 409 `epoch_not_reached` (the caller's epoch is ahead of tenantry's) and 422 keep
        # tenantry's status and code; anything else is tenantry failing to answer: closed.
        if problem.status in (409, 422):
            raise Refused(problem.status, problem.code, problem.detail) from problem
        raise Refused(503, "authorizer_unavailable", "tenantry could not answer") from problem


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "missing_token", "an `Authorization: Bearer <token>` header is needed")
    return token.strip()


def _organisation(request: Request, org_from: str | None, org_header: str) -> str:
    org_id = request.path_params.get(org_from) if org_from else request.headers.get(org_header)
    if not org_id:
        where = f"the path parameter `{org_from}`" if org_from else f"the `{org_header}` header"
        raise Refused(400, "organisation_required", f"name the organisation in {where}")
    return str(org_id)


def _min_epoch(request: Request) -> int | None:
    given = request.headers.get(EPOCH_HEADER)
    if given is None:
        return None
    if not given.isdigit():
        raise Refused(400, "invalid_epoch", f"`{EPOCH_HEADER}` must be a non-negative integer")
    return int(given)


def _denied(answer: Authorization) -> Refused:
    first = answer.denied[0]
    return Refused(
        403,
        "permission_denied",
        f"`{first.permission}` is not allowed: {first.reason}",
        permission=first.permission,
        reason=first.reason,
        decisions=[
            {"permission": d.permission, "allowed": d.allowed, "reason": d.reason}
            for d in answer.decisions
        ],
    )
