"""Sessions over HTTP: login, refresh, logout, and the caller's sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tenantry.http.deps import Client, PublicRun, Run
from tenantry.http.wire import Page
from tenantry.sessions import service as sessions
from tenantry.sessions import sign_in
from tenantry.sessions.schemas import LoginIn, LogoutIn, RefreshIn, SessionOut, TokenPairOut

router = APIRouter()


@router.post("/v1/auth/login", tags=["auth"])
def login(body: LoginIn, run: PublicRun, client: Client) -> TokenPairOut:
    pair = run(
        lambda uow: sign_in.login(
            uow,
            run.deps,
            email=body.email,
            password=body.password,
            org_id=body.organisation_id,
            client=client,
        )
    )
    return TokenPairOut.of(pair)


@router.post("/v1/auth/refresh", tags=["auth"])
def refresh(body: RefreshIn, run: PublicRun, client: Client) -> TokenPairOut:
    pair = run(
        lambda uow: sign_in.refresh(
            uow,
            run.deps,
            refresh_token=body.refresh_token,
            org_id=body.organisation_id,
            client=client,
        )
    )
    return TokenPairOut.of(pair)


@router.post("/v1/auth/logout", status_code=204, tags=["auth"])
def logout(run: Run, body: LogoutIn | None = None) -> Response:
    token = body.refresh_token if body else None
    run(lambda uow: sessions.logout(uow, run.deps, run.caller, refresh_token=token))
    return Response(status_code=204)


@router.get("/v1/me/sessions", tags=["me"])
def list_sessions(
    run: Run,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[SessionOut]:
    page = run(
        lambda uow: sessions.list_sessions(uow, run.deps, run.caller, limit=limit, cursor=cursor)
    )
    return Page(
        items=[SessionOut.of(s, run.caller.session_id) for s in page.items],
        next_cursor=page.next_cursor,
    )


@router.delete("/v1/me/sessions", status_code=204, tags=["me"])
def revoke_all_sessions(run: Run) -> Response:
    run(lambda uow: sessions.logout_everywhere(uow, run.deps, run.caller))
    return Response(status_code=204)


@router.delete("/v1/me/sessions/{session_id}", status_code=204, tags=["me"])
def revoke_session(session_id: str, run: Run) -> Response:
    run(lambda uow: sessions.revoke_session(uow, run.deps, run.caller, session_id))
    return Response(status_code=204)
