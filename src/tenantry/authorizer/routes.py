"""`POST /v1/authorize`: the product's question, answered with reasons."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tenantry.authorizer import service as authorizer
from tenantry.authorizer.schemas import AuthorizeIn, AuthorizeOut
from tenantry.http.deps import BearerToken, PublicRun
from tenantry.http.openapi import problems
from tenantry.runner import Runner

router = APIRouter(prefix="/v1", tags=["authorizer"])


@router.post(
    "/authorize",
    summary="May the bearer do these things in this organisation?",
    responses=problems(413, 415, 422, 401, 409),
)
async def authorize(body: AuthorizeIn, token: BearerToken, run: PublicRun) -> AuthorizeOut:
    """The bearer is the token being checked. Every question gets a decision with its reason,
    also for a token whose session ended or whose membership is over (`allowed: false`);
    only a token that is not valid at all is 401. A trusted external issuer's token (a
    Cognito user pool) is accepted here too, for the user its subject is linked to
    (docs/external-issuers.md). Denials are audited (at most once a minute per user and
    permission; the next event counts those left out)."""
    # One hop into the threadpool, for the store. FastAPI validates an async route's answer
    # on the event loop; a sync route's would take a second hop for it.
    return await run_in_threadpool(answer, run, token, body)


def answer(run: Runner, token: str, body: AuthorizeIn) -> AuthorizeOut:
    """The route's answer to `body` for `token`; `tenantry.fastapi` asks it in-process too."""
    decided = run(
        lambda uow: authorizer.authorize(
            uow,
            run.deps,
            run.tenantry.authorizer,
            token,
            org_id=body.organisation_id,
            permissions=body.asked,
            team_id=body.team_id,
            min_epoch=body.min_epoch,
            issuers=run.tenantry.issuers,
        )
    )
    return AuthorizeOut.of(decided, explain=body.explain)
