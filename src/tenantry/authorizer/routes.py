"""`POST /v1/authorize`: the product's question, answered with reasons."""

from __future__ import annotations

from fastapi import APIRouter

from tenantry.authorizer import service as authorizer
from tenantry.authorizer.schemas import AuthorizeIn, AuthorizeOut
from tenantry.http.deps import BearerToken, PublicRun
from tenantry.http.openapi import problems

router = APIRouter(prefix="/v1", tags=["authorizer"])


@router.post(
    "/authorize",
    summary="May the bearer do these things in this organisation?",
    responses=problems(413, 415, 422, 401, 409),
)
def authorize(body: AuthorizeIn, token: BearerToken, run: PublicRun) -> AuthorizeOut:
    """The bearer is the token being checked. Every question gets a decision with its reason,
    also for a token whose session ended or whose membership is over (`allowed: false`);
    only a token that is not valid at all is 401. Denials are audited (at most once a minute
    per user and permission; the next event counts those left out)."""
    answer = run(
        lambda uow: authorizer.authorize(
            uow,
            run.deps,
            run.tenantry.authorizer,
            token,
            org_id=body.organisation_id,
            permissions=body.asked,
            team_id=body.team_id,
            min_epoch=body.min_epoch,
        )
    )
    return AuthorizeOut.of(answer, explain=body.explain)
