"""`/v1/auth`: sign-up, verification, login, refresh, logout, password reset."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tenantry.http.deps import Client, PublicRun, Run
from tenantry.http.schemas import (
    LoginIn,
    LogoutIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    SignupIn,
    TokenIn,
    TokenPairOut,
    UserOut,
)
from tenantry.services import accounts, sessions, sign_in

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/signup", status_code=201)
def signup(body: SignupIn, run: PublicRun) -> UserOut:
    user = run(
        lambda uow: accounts.signup(
            uow, run.deps, email=body.email, password=body.password, name=body.name
        )
    )
    return UserOut.of(user)


@router.post("/verify-email")
def verify_email(body: TokenIn, run: PublicRun) -> UserOut:
    user = run(lambda uow: accounts.verify_email(uow, run.deps, token=body.token))
    return UserOut.of(user)


@router.post("/login")
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


@router.post("/refresh")
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


@router.post("/logout", status_code=204)
def logout(run: Run, body: LogoutIn | None = None) -> Response:
    token = body.refresh_token if body else None
    run(lambda uow: sessions.logout(uow, run.deps, run.caller, refresh_token=token))
    return Response(status_code=204)


@router.post("/password-reset", status_code=202)
def request_password_reset(body: PasswordResetIn, run: PublicRun) -> dict[str, str]:
    run(lambda uow: accounts.request_password_reset(uow, run.deps, email=body.email))
    return {"status": "accepted"}


@router.post("/password-reset/confirm", status_code=204)
def confirm_password_reset(body: PasswordResetConfirmIn, run: PublicRun) -> Response:
    run(
        lambda uow: accounts.confirm_password_reset(
            uow, run.deps, token=body.token, new_password=body.new_password
        )
    )
    return Response(status_code=204)
