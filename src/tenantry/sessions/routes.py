"""Sessions over HTTP: login, refresh, logout, and the caller's sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tenantry.http.deps import Client, PublicRun, Run
from tenantry.http.openapi import problems
from tenantry.http.wire import CURSOR, LIMIT, Page, encoded
from tenantry.sessions import service as sessions
from tenantry.sessions import sign_in
from tenantry.sessions.schemas import LoginIn, LogoutIn, RefreshIn, SessionOut, TokenPairOut

router = APIRouter()


@router.post(
    "/v1/auth/login",
    tags=["auth"],
    summary="Log in",
    response_model=TokenPairOut,
    responses=problems(413, 415, 422, 401, 403, 429),
)
def login(body: LoginIn, run: PublicRun, client: Client) -> JSONResponse:
    """A token pair for the account; with `organisation_id`, an org-scoped access token for an
    active member."""
    return run(
        lambda uow: encoded(
            TokenPairOut.of(
                sign_in.login(
                    uow,
                    run.deps,
                    email=body.email,
                    password=body.password,
                    org_id=body.organisation_id,
                    client=client,
                )
            )
        )
    )


@router.post(
    "/v1/auth/refresh",
    tags=["auth"],
    summary="Rotate the refresh token",
    response_model=TokenPairOut,
    responses=problems(413, 415, 422, 401, 403),
)
def refresh(body: RefreshIn, run: PublicRun) -> JSONResponse:
    """A new pair; the presented refresh token is used up. Presenting it again revokes the whole
    session. With `organisation_id`, switches the session to that organisation."""
    return run(
        lambda uow: encoded(
            TokenPairOut.of(
                sign_in.refresh(
                    uow,
                    run.deps,
                    refresh_token=body.refresh_token,
                    org_id=body.organisation_id,
                )
            )
        )
    )


@router.post(
    "/v1/auth/logout",
    status_code=204,
    tags=["auth"],
    summary="Log out",
    responses=problems(413, 415, 422, 401),
)
def logout(run: Run, body: LogoutIn | None = None) -> Response:
    """Ends the bearer's session, and the session of `refresh_token` if it is another of the
    caller's."""
    token = body.refresh_token if body else None
    run(lambda uow: sessions.logout(uow, run.deps, run.caller, refresh_token=token))
    return Response(status_code=204)


@router.get(
    "/v1/me/sessions",
    tags=["me"],
    summary="The caller's live sessions",
    responses=problems(401, 422),
)
def list_sessions(
    run: Run,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=LIMIT)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description=CURSOR)] = None,
) -> Page[SessionOut]:
    """Newest first, paged by `limit` and `cursor`."""
    page = run(
        lambda uow: sessions.list_sessions(uow, run.deps, run.caller, limit=limit, cursor=cursor)
    )
    return Page(
        items=[SessionOut.of(s, run.caller.session_id) for s in page.items],
        next_cursor=page.next_cursor,
    )


@router.delete(
    "/v1/me/sessions",
    status_code=204,
    tags=["me"],
    summary="Log out everywhere",
    responses=problems(401, 409),
)
def revoke_all_sessions(run: Run) -> Response:
    """Ends every session of the caller's, the one making the request included."""
    run(lambda uow: sessions.logout_everywhere(uow, run.deps, run.caller))
    return Response(status_code=204)


@router.delete(
    "/v1/me/sessions/{session_id}",
    status_code=204,
    tags=["me"],
    summary="End one of the caller's sessions",
    responses=problems(401, 404, 422),
)
def revoke_session(
    session_id: Annotated[
        str, Path(description="The session's id (`ses_…`), from the caller's session list.")
    ],
    run: Run,
) -> Response:
    """Another user's session answers 404, like a missing one."""
    run(lambda uow: sessions.revoke_session(uow, run.deps, run.caller, session_id))
    return Response(status_code=204)
