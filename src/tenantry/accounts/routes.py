"""Accounts over HTTP: sign-up, verification, password reset, the caller and their password."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tenantry.accounts import service as accounts
from tenantry.accounts.schemas import (
    MeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    SignupIn,
    TokenIn,
    UserOut,
)
from tenantry.http.deps import PublicRun, Run

router = APIRouter()


@router.post("/v1/auth/signup", status_code=201, tags=["auth"])
def signup(body: SignupIn, run: PublicRun) -> UserOut:
    user = run(
        lambda uow: accounts.signup(
            uow, run.deps, email=body.email, password=body.password, name=body.name
        )
    )
    return UserOut.of(user)


@router.post("/v1/auth/verify-email", tags=["auth"])
def verify_email(body: TokenIn, run: PublicRun) -> UserOut:
    user = run(lambda uow: accounts.verify_email(uow, run.deps, token=body.token))
    return UserOut.of(user)


@router.post("/v1/auth/password-reset", status_code=202, tags=["auth"])
def request_password_reset(body: PasswordResetIn, run: PublicRun) -> dict[str, str]:
    run(lambda uow: accounts.request_password_reset(uow, run.deps, email=body.email))
    return {"status": "accepted"}


@router.post("/v1/auth/password-reset/confirm", status_code=204, tags=["auth"])
def confirm_password_reset(body: PasswordResetConfirmIn, run: PublicRun) -> Response:
    run(
        lambda uow: accounts.confirm_password_reset(
            uow, run.deps, token=body.token, new_password=body.new_password
        )
    )
    return Response(status_code=204)


@router.get("/v1/me", tags=["me"])
def me(run: Run) -> MeOut:
    user = run(lambda uow: accounts.get_account(uow, run.deps, run.caller))
    caller = run.caller
    return MeOut(
        **UserOut.of(user).model_dump(),
        organisation_id=caller.org_id,
        org_role=caller.org_role.value if caller.org_role else None,
    )


@router.post("/v1/me/password", status_code=204, tags=["me"])
def change_password(body: PasswordChangeIn, run: Run) -> Response:
    run(
        lambda uow: accounts.change_password(
            uow, run.deps, run.caller, current=body.current_password, new=body.new_password
        )
    )
    return Response(status_code=204)
