"""`require(...)`: the dependency, and what it reads from the product's request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from tenantry.client import EPOCH_HEADER, Authorization
from tenantry.domain.permissions import is_permission
from tenantry.fastapi.local import LocalVerifier
from tenantry.fastapi.over_http import ClientSource, OverHttp
from tenantry.fastapi.problems import Refused
from tenantry.fastapi.question import Decider, Question

if TYPE_CHECKING:
    from tenantry.fastapi.in_process import TenantrySource

ORGANISATION_HEADER = "X-Organisation-Id"


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


def require(
    permission: str | Sequence[str],
    *,
    client: ClientSource | None = None,
    tenantry: TenantrySource | None = None,
    org_from: str | None = None,
    org_header: str = ORGANISATION_HEADER,
    team_from: str | None = None,
    explain: bool = False,
    verify_locally: bool | LocalVerifier = True,
    audience: str | None = None,
) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency: 401 without a bearer tenantry accepts, 403 `permission_denied` (with
    tenantry's `reason`) when it denies, 400 without an organisation, 503 when tenantry
    cannot answer (never allowed by default). Several permissions must all be allowed.

    Give `client` (tenantry over HTTP: the client, or a function of the request that returns
    it, such as `lambda r: r.app.state.tenantry` for one made in a lifespan) or `tenantry`
    (the `Tenantry` mounted in this process, or a function of the request that returns it).
    Over HTTP the bearer is first verified here through tenantry's JWKS (`verify_locally`,
    with `audience` when given); in process tenantry verifies it itself."""
    asked = _permissions(permission)
    decide = _decider(client, tenantry, verify_locally, audience)

    async def check(request: Request) -> Principal:
        question = Question(
            token=_bearer(request),
            org_id=_organisation(request, org_from, org_header),
            permissions=asked,
            team_id=request.path_params[team_from] if team_from else None,
            min_epoch=_min_epoch(request),
            explain=explain,
        )
        answer = await decide(request, question)
        if not answer.allowed:
            raise _denied(answer)
        return Principal(
            user_id=answer.user_id,
            organisation_id=answer.organisation_id,
            org_role=answer.org_role,
            team_ids=answer.team_ids,
            team_id=question.team_id,
            epoch=answer.epoch,
            authorization=answer,
            token=question.token,
        )

    return check


def _permissions(permission: str | Sequence[str]) -> tuple[str, ...]:
    # Refused here, when the route is declared, rather than by tenantry on every request.
    asked = (permission,) if isinstance(permission, str) else tuple(permission)
    if not asked:
        raise ValueError("require(...) needs at least one permission")
    patterns = [p for p in asked if not is_permission(p)]
    if patterns:
        raise ValueError(f"require(...) takes permissions, without wildcards: {patterns}")
    return asked


def _decider(
    client: ClientSource | None,
    tenantry: TenantrySource | None,
    verify_locally: bool | LocalVerifier,
    audience: str | None,
) -> Decider:
    if (client is None) == (tenantry is None):
        raise TypeError("require(...) takes client= (over HTTP) or tenantry= (in process)")
    if client is not None:
        return OverHttp(client, verify_locally, audience)
    if isinstance(verify_locally, LocalVerifier) or audience is not None:
        raise TypeError("in process, tenantry verifies the bearer: no verifier or audience")
    from tenantry.fastapi.in_process import InProcess  # tenantry's server side, only if used

    assert tenantry is not None
    return InProcess(tenantry)


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
    if not (given.isascii() and given.isdigit()):  # "²" is a digit that int() refuses
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
