"""Accounts over HTTP: sign-up, verification, password reset, the caller and their password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from tenantry.accounts import mail_requests
from tenantry.accounts import service as accounts
from tenantry.accounts.schemas import (
    Accepted,
    MeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    SignupIn,
    TokenIn,
    UserOut,
    VerificationResendIn,
)
from tenantry.http.deps import Client, PublicRun, Run
from tenantry.http.openapi import problems
from tenantry.http.wire import encoded

router = APIRouter()


@router.post(
    "/v1/auth/signup",
    status_code=202,
    tags=["auth"],
    response_model=Accepted,
    responses={
        201: {"model": UserOut, "description": "With TENANTRY_SIGNUP_REVEALS_EXISTING=true."},
        **problems(413, 415, 422, 409, 429),
    },
    summary="Sign up",
)
def signup(body: SignupIn, run: PublicRun, client: Client) -> Any:
    """202 whether the email is new or has an account (its owner is mailed a reset link)."""
    user = run(
        lambda uow: mail_requests.signup(
            uow,
            run.deps,
            email=body.email,
            password=body.password,
            name=body.name,
            ip_address=client.ip_address,
        )
    )
    if user is None or not run.deps.policy.signup_reveals_existing:
        return Accepted()
    return JSONResponse(UserOut.of(user).model_dump(mode="json"), status_code=201)


@router.post(
    "/v1/auth/verify-email",
    tags=["auth"],
    summary="Verify an email address",
    response_model=UserOut,
    responses=problems(413, 415, 422, 410),
)
def verify_email(body: TokenIn, run: PublicRun) -> JSONResponse:
    """Redeem the link mailed at sign-up (its `token`); a link works once."""
    return run(
        lambda uow: encoded(UserOut.of(accounts.verify_email(uow, run.deps, token=body.token)))
    )


@router.post(
    "/v1/auth/verify-email/resend",
    status_code=202,
    tags=["auth"],
    summary="Mail the verification link again",
    responses=problems(413, 415, 422, 429),
)
def resend_verification(body: VerificationResendIn, run: PublicRun, client: Client) -> Accepted:
    """202 whether or not the email has an account waiting for verification."""
    run(
        lambda uow: mail_requests.resend_verification(
            uow, run.deps, email=body.email, ip_address=client.ip_address
        )
    )
    return Accepted()


@router.post(
    "/v1/auth/password-reset",
    status_code=202,
    tags=["auth"],
    summary="Ask for a password-reset link",
    responses=problems(413, 415, 422, 429),
)
def request_password_reset(body: PasswordResetIn, run: PublicRun, client: Client) -> Accepted:
    """202 whether or not the email has an account."""
    run(
        lambda uow: mail_requests.request_password_reset(
            uow, run.deps, email=body.email, ip_address=client.ip_address
        )
    )
    return Accepted()


@router.post(
    "/v1/auth/password-reset/confirm",
    status_code=204,
    tags=["auth"],
    summary="Set a new password with a reset link",
    responses=problems(413, 415, 422, 410),
)
def confirm_password_reset(body: PasswordResetConfirmIn, run: PublicRun) -> Response:
    """Every session of the account ends; the email counts as verified."""
    run(
        lambda uow: accounts.confirm_password_reset(
            uow, run.deps, token=body.token, new_password=body.new_password
        )
    )
    return Response(status_code=204)


@router.get("/v1/me", tags=["me"], summary="The caller", responses=problems(401))
def me(run: Run) -> MeOut:
    """The account behind the bearer token, and the organisation and role the token is for."""
    user = run(lambda uow: accounts.get_account(uow, run.deps, run.caller))
    caller = run.caller
    return MeOut(
        **UserOut.of(user).model_dump(),
        organisation_id=caller.org_id,
        org_role=caller.org_role.value if caller.org_role else None,
    )


@router.post(
    "/v1/me/password",
    status_code=204,
    tags=["me"],
    summary="Change the caller's password",
    responses=problems(413, 415, 422, 401, 403, 409, 429),
)
def change_password(body: PasswordChangeIn, run: Run, client: Client) -> Response:
    """Needs the current password. Every other session of the account ends; this one stays."""
    run(
        lambda uow: accounts.change_password(
            uow,
            run.deps,
            run.caller,
            current=body.current_password,
            new=body.new_password,
            ip_address=client.ip_address,
        )
    )
    return Response(status_code=204)
