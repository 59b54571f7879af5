"""`/v1/organisations/{org_id}/invitations`, and `/v1/invitations/{token}` for the invitee."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from tenantry.domain.invitations import InvitationStatus
from tenantry.domain.paging import DEFAULT_PAGE_SIZE
from tenantry.http.deps import Client, MaybeRun, PublicRun, Run
from tenantry.http.openapi import json_or_csv_body, problems
from tenantry.http.wire import Cursor, Limit, OrgId, Page, changed, epoch_response
from tenantry.invitations import bulk
from tenantry.invitations import service as invitations
from tenantry.invitations.bulk import BulkRow
from tenantry.invitations.csv_rows import CSV_COLUMNS, CSV_MEDIA_TYPE, rows_from_csv_bytes
from tenantry.invitations.schemas import (
    AcceptedOut,
    AcceptIn,
    BulkIn,
    BulkOut,
    InvitationIn,
    InvitationOut,
    InvitationPublicOut,
)
from tenantry.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/organisations", tags=["invitations"])
public_router = APIRouter(prefix="/v1/invitations", tags=["invitations"])
_READ = problems(401, 403, 404, 422)
_WRITE = problems(413, 415, 401, 403, 404, 409, 422, 429)

InvitationId = Annotated[str, Path(max_length=40, description="The invitation's id (`inv_…`).")]
# The paths whose body may be `text/csv` as well as JSON (the body guard's list).
CSV_BODY_PATHS = re.compile(r"/v1/organisations/[^/]+/invitations/bulk")
CSV_BODY = (
    f"A header naming `email` and any of {', '.join(CSV_COLUMNS[1:])}, then a row for each "
    "address; `role_ids` separated by spaces. UTF-8."
)
Token = Annotated[
    str, Path(min_length=1, max_length=200, description="The token of the emailed link.")
]


@router.post(
    "/{org_id}/invitations",
    status_code=201,
    summary="Invite an email address",
    response_model=InvitationOut,
    responses={**epoch_response(201, "The invitation (never its token)."), **_WRITE},
)
def create_invitation(org_id: OrgId, body: InvitationIn, run: Run) -> Response:
    """Needs `invitation:create`. The link is emailed (through the outbox, in the same
    transaction); a pending invitation for the address is 409 `invitation_pending` (resend
    it instead), a member's address 409 `already_member`."""

    def use_case(uow: UnitOfWork) -> Response:
        made = invitations.create_invitation(
            uow, run.deps, run.caller, org_id, email=body.email, binding=body.binding()
        )
        return changed(InvitationOut.of(made.value, run.deps.clock.now()), made.epoch, 201)

    return run(use_case)


@dataclass(frozen=True, slots=True)
class BulkRequest:
    rows: list[BulkRow]
    all_or_nothing: bool
    dry_run: bool


async def bulk_request(
    request: Request,
    all_or_nothing: Annotated[
        bool, Query(description="As the body's `all_or_nothing`; the way to set it with CSV.")
    ] = False,
    dry_run: Annotated[
        bool, Query(description="As the body's `dry_run`; the way to set it with CSV.")
    ] = False,
) -> BulkRequest:
    """The rows of a JSON or CSV body. Read here, not by FastAPI, which takes one body model
    and JSON only; the body guard has already refused other media types and oversized bodies."""
    raw = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == CSV_MEDIA_TYPE:
        return BulkRequest(rows_from_csv_bytes(raw), all_or_nothing, dry_run)
    try:
        body = BulkIn.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    return BulkRequest(
        [row.row() for row in body.invitations],
        all_or_nothing or body.all_or_nothing,
        dry_run or body.dry_run,
    )


@router.post(
    "/{org_id}/invitations/bulk",
    summary="Invite many addresses at once",
    response_model=BulkOut,
    responses={**epoch_response(200, "A result for every row."), **_WRITE},
    openapi_extra=json_or_csv_body(BulkIn, CSV_BODY),
)
def bulk_invite(
    org_id: OrgId, body: Annotated[BulkRequest, Depends(bulk_request)], run: Run
) -> Response:
    """Needs `invitation:create`. Each row is checked as one invitation is, with a result of
    its own; every row that passes is written and emailed, or with `all_or_nothing` none if
    any fails; `dry_run` only checks. At most `TENANTRY_INVITATION_BULK_MAX` rows
    (422 `too_many_rows`). The body is JSON, or a CSV file (`Content-Type: text/csv`, 422
    `invalid_csv` when it cannot be read) with the flags as query parameters."""

    def use_case(uow: UnitOfWork) -> Response:
        outcome = bulk.bulk_invite(
            uow,
            run.deps,
            run.caller,
            org_id,
            rows=body.rows,
            all_or_nothing=body.all_or_nothing,
            dry_run=body.dry_run,
        )
        return changed(BulkOut.of(outcome, run.deps.clock.now()), outcome.epoch)

    return run(use_case)


@router.get("/{org_id}/invitations", summary="The organisation's invitations", responses=_READ)
def list_invitations(
    org_id: OrgId,
    run: Run,
    status: Annotated[InvitationStatus | None, Query(description="Only this status.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[InvitationOut]:
    """Needs `invitation:read`. By creation time, paged."""
    page = run(
        lambda uow: invitations.list_invitations(
            uow, run.deps, run.caller, org_id, status=status, limit=limit, cursor=cursor
        )
    )
    now = run.deps.clock.now()
    return Page(items=[InvitationOut.of(i, now) for i in page.items], next_cursor=page.next_cursor)


@router.get("/{org_id}/invitations/{invitation_id}", summary="An invitation", responses=_READ)
def get_invitation(org_id: OrgId, invitation_id: InvitationId, run: Run) -> InvitationOut:
    """Needs `invitation:read`."""
    found = run(
        lambda uow: invitations.get_invitation(uow, run.deps, run.caller, org_id, invitation_id)
    )
    return InvitationOut.of(found, run.deps.clock.now())


@router.post(
    "/{org_id}/invitations/{invitation_id}/resend",
    summary="Send the invitation again, with a new link",
    responses=problems(401, 403, 404, 409, 422, 429),
)
def resend_invitation(org_id: OrgId, invitation_id: InvitationId, run: Run) -> InvitationOut:
    """Needs `invitation:create`. The old link stops working at once; the expiry starts
    again. 409 `invitation_not_pending` once accepted or revoked, `resend_limit_reached`
    after the configured number of resends."""
    resent = run(
        lambda uow: invitations.resend_invitation(uow, run.deps, run.caller, org_id, invitation_id)
    )
    return InvitationOut.of(resent, run.deps.clock.now())


@router.delete(
    "/{org_id}/invitations/{invitation_id}",
    summary="Revoke an invitation",
    responses=problems(401, 403, 404, 409, 422),
)
def revoke_invitation(org_id: OrgId, invitation_id: InvitationId, run: Run) -> InvitationOut:
    """Needs `invitation:revoke`. Its link stops working (409 `invitation_revoked`)."""
    revoked = run(
        lambda uow: invitations.revoke_invitation(uow, run.deps, run.caller, org_id, invitation_id)
    )
    return InvitationOut.of(revoked, run.deps.clock.now())


@public_router.get(
    "/{invitation_token}", summary="What an invitation link offers", responses=problems(404, 422)
)
def preview_invitation(invitation_token: Token, run: PublicRun) -> InvitationPublicOut:
    """Public: the organisation's name, the inviter, the role, the team, the expiry and the
    status, for the page that shows the invitation. An unknown link is 404."""
    view = run(lambda uow: invitations.preview_invitation(uow, run.deps, invitation_token))
    return InvitationPublicOut.of(view)


@public_router.post(
    "/{invitation_token}/accept",
    summary="Accept an invitation",
    response_model=AcceptedOut,
    responses={
        **epoch_response(200, "The invitation and a token pair for the organisation."),
        **problems(413, 415, 401, 403, 404, 409, 410, 422),
    },
)
def accept_invitation(
    invitation_token: Token, run: MaybeRun, client: Client, body: AcceptIn | None = None
) -> Response:
    """With a bearer token: as that user, whose verified address must be the invited one
    (403 `invitation_for_another_user`). Without: `name` and `password` make the account,
    its address verified by the invitation. 409 `invitation_accepted` or
    `invitation_revoked`, 410 `invitation_expired`, 404 for an unknown link."""
    new_account = (
        invitations.NewAccount(body.name, body.password)
        if body is not None and body.name is not None and body.password is not None
        else None
    )

    def use_case(uow: UnitOfWork) -> Response:
        accepted = invitations.accept_invitation(
            uow,
            run.deps,
            invitation_token,
            caller=run.caller_if_any,
            new_account=new_account,
            client=client,
        )
        return changed(AcceptedOut.of(accepted, run.deps.clock.now()), accepted.epoch)

    return run(use_case)
