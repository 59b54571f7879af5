"""`/v1/organisations/{org_id}/members/{user_id}`: role change, removal, leaving, effective
permissions; and `.../transfer-ownership`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from tenantry.http.deps import Run
from tenantry.http.openapi import problems
from tenantry.http.wire import OrgId, UserId, changed, epoch_response
from tenantry.members import service as members
from tenantry.members.schemas import MemberPatch, PermissionsOut, TransferIn
from tenantry.organisations.schemas import MemberOut
from tenantry.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/organisations", tags=["members"])


@router.patch(
    "/{org_id}/members/{user_id}",
    summary="Change a member's organisation role",
    response_model=MemberOut,
    responses={**epoch_response(200, "The member."), **problems(413, 415, 401, 403, 404, 409, 422)},
)
def change_role(org_id: OrgId, user_id: UserId, body: MemberPatch, run: Run) -> Response:
    """Needs `member:update`. Only an OWNER makes or demotes an OWNER; nobody acts on a
    member ranked above them, or changes their own role; the last OWNER stays."""

    def use_case(uow: UnitOfWork) -> Response:
        done = members.change_org_role(uow, run.deps, run.caller, org_id, user_id, body.org_role)
        return changed(MemberOut.of(done.value), done.epoch)

    return run(use_case)


@router.delete(
    "/{org_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member, or leave",
    responses={**epoch_response(204, "The membership ended."), **problems(401, 403, 404, 409, 422)},
)
def remove(org_id: OrgId, user_id: UserId, run: Run) -> Response:
    """Needs `member:remove`, except for the caller's own membership (leaving). Only an OWNER
    removes an OWNER, and the last OWNER can neither be removed nor leave. The member's role
    assignments and team memberships end with the membership; their tokens for the
    organisation stop working at once."""
    done = run(lambda uow: members.remove_member(uow, run.deps, run.caller, org_id, user_id))
    return changed(None, done.epoch)


@router.post(
    "/{org_id}/transfer-ownership",
    summary="Hand the organisation over to another member",
    response_model=MemberOut,
    responses={
        **epoch_response(200, "The new OWNER."),
        **problems(413, 415, 401, 403, 404, 409, 422),
    },
)
def transfer(org_id: OrgId, body: TransferIn, run: Run) -> Response:
    """Needs `organisation:transfer` (an OWNER). The member becomes OWNER and the caller
    ADMIN, in one transaction."""

    def use_case(uow: UnitOfWork) -> Response:
        done = members.transfer_ownership(uow, run.deps, run.caller, org_id, body.user_id)
        return changed(MemberOut.of(done.value), done.epoch)

    return run(use_case)


@router.get(
    "/{org_id}/members/{user_id}/permissions",
    summary="A member's effective permissions",
    responses=problems(401, 403, 404, 422),
)
def permissions(org_id: OrgId, user_id: UserId, run: Run) -> PermissionsOut:
    """Needs `member:read`, or asks about the caller. Each grant with where it comes from."""
    access = run(
        lambda uow: members.effective_permissions(uow, run.deps, run.caller, org_id, user_id)
    )
    return PermissionsOut.of(access)
