"""`/v1/me`: the caller, their sessions and their password."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tenantry.http.deps import Run
from tenantry.http.schemas import MeOut, Page, PasswordChangeIn, SessionOut, UserOut
from tenantry.services import accounts, sessions

router = APIRouter(prefix="/v1/me", tags=["me"])


@router.get("")
def me(run: Run) -> MeOut:
    caller = run.caller
    user = run(lambda uow: accounts.get_account(uow, run.deps, caller), read_only=True)
    return MeOut(
        **UserOut.of(user).model_dump(),
        organisation_id=caller.org_id,
        org_role=caller.org_role.value if caller.org_role else None,
    )


@router.get("/sessions")
def list_sessions(run: Run) -> Page[SessionOut]:
    items = run(lambda uow: sessions.list_sessions(uow, run.deps, run.caller), read_only=True)
    return Page(items=[SessionOut.of(s, run.caller.session_id) for s in items])


@router.delete("/sessions", status_code=204)
def revoke_all_sessions(run: Run) -> Response:
    run(lambda uow: sessions.logout_everywhere(uow, run.deps, run.caller))
    return Response(status_code=204)


@router.delete("/sessions/{session_id}", status_code=204)
def revoke_session(session_id: str, run: Run) -> Response:
    run(lambda uow: sessions.revoke_session(uow, run.deps, run.caller, session_id))
    return Response(status_code=204)


@router.post("/password", status_code=204)
def change_password(body: PasswordChangeIn, run: Run) -> Response:
    run(
        lambda uow: accounts.change_password(
            uow, run.deps, run.caller, current=body.current_password, new=body.new_password
        )
    )
    return Response(status_code=204)
