"""`/v1/organisations/{org_id}/roles` and role assignments to members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from tenantry.http.deps import Run
from tenantry.http.openapi import problems
from tenantry.http.wire import OrgId, RoleId, UserId, changed, encoded, epoch_response
from tenantry.roles import service as roles
from tenantry.roles.schemas import (
    AccessChangeOut,
    AssignmentOut,
    RoleIn,
    RoleList,
    RoleOut,
    RolePatch,
    RolePreviewOut,
)
from tenantry.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/organisations", tags=["roles"])

DryRun = Annotated[
    bool,
    Query(
        description="Answer what the edit would change (who gains and loses which "
        "permission) without writing anything."
    ),
]
_WRITE = (413, 415, 422, 401, 403, 404, 409)


@router.get(
    "/{org_id}/roles",
    summary="The organisation's custom roles",
    responses=problems(401, 403, 404, 422),
)
def list_roles(org_id: OrgId, run: Run) -> RoleList:
    """Needs `role:read`. Every custom role (at most 100), by name."""
    found = run(lambda uow: roles.list_roles(uow, run.deps, run.caller, org_id))
    return RoleList(items=[RoleOut.of(role) for role in found])


@router.post(
    "/{org_id}/roles",
    status_code=201,
    summary="Create a custom role",
    response_model=RoleOut,
    responses={**epoch_response(201, "The role."), **problems(*_WRITE)},
)
def create_role(org_id: OrgId, body: RoleIn, run: Run) -> Response:
    """Needs `role:create`, and the caller must hold every permission the role grants."""

    def use_case(uow: UnitOfWork) -> Response:
        made = roles.create_role(
            uow,
            run.deps,
            run.caller,
            org_id,
            name=body.name,
            permissions=body.permissions,
            description=body.description,
            scope=body.scope,
        )
        return changed(RoleOut.of(made.value), made.epoch, 201)

    return run(use_case)


@router.get(
    "/{org_id}/roles/{role_id}", summary="A custom role", responses=problems(401, 403, 404, 422)
)
def get_role(org_id: OrgId, role_id: RoleId, run: Run) -> RoleOut:
    """Needs `role:read`."""
    return RoleOut.of(run(lambda uow: roles.get_role(uow, run.deps, run.caller, org_id, role_id)))


@router.patch(
    "/{org_id}/roles/{role_id}",
    summary="Edit a custom role, or preview the edit",
    response_model=RoleOut | RolePreviewOut,
    responses={**epoch_response(200, "The role as saved, or the preview."), **problems(*_WRITE)},
)
def update_role(
    org_id: OrgId, role_id: RoleId, body: RolePatch, run: Run, dry_run: DryRun = False
) -> Response:
    """Needs `role:update`; every permission the role gains must be one the caller holds.
    With `dry_run=true` nothing is written and the answer lists, for every holder of the
    role, the permissions they would gain and lose."""

    def use_case(uow: UnitOfWork) -> Response:
        result = roles.update_role(
            uow,
            run.deps,
            run.caller,
            org_id,
            role_id,
            name=body.name,
            description=body.description,
            permissions=body.permissions,
            dry_run=dry_run,
        )
        if isinstance(result, roles.RolePreview):
            preview = RolePreviewOut(
                dry_run=True,
                role=RoleOut.of(result.role),
                changes=[AccessChangeOut.of(diff) for diff in result.changes],
            )
            return encoded(preview)
        return changed(RoleOut.of(result.value), result.epoch)

    return run(use_case)


@router.delete(
    "/{org_id}/roles/{role_id}",
    status_code=204,
    summary="Delete a custom role",
    responses={**epoch_response(204, "Deleted."), **problems(401, 403, 404, 409, 422)},
)
def delete_role(org_id: OrgId, role_id: RoleId, run: Run) -> Response:
    """Needs `role:delete`. Its assignments end with it; members holding it as a team role
    become MEMBERs of those teams."""
    done = run(lambda uow: roles.delete_role(uow, run.deps, run.caller, org_id, role_id))
    return changed(None, done.epoch)


@router.put(
    "/{org_id}/members/{user_id}/roles/{role_id}",
    summary="Assign a custom role to a member",
    response_model=AssignmentOut,
    responses={**epoch_response(200, "The assignment."), **problems(401, 403, 404, 409, 422)},
)
def assign_role(org_id: OrgId, user_id: UserId, role_id: RoleId, run: Run) -> Response:
    """Needs `role:assign`, and the caller must hold every permission of the role; nobody
    assigns roles to themselves. Assigning a role the member holds changes nothing."""

    def use_case(uow: UnitOfWork) -> Response:
        done = roles.assign_role(uow, run.deps, run.caller, org_id, user_id, role_id)
        return changed(AssignmentOut.of(done.value), done.epoch)

    return run(use_case)


@router.delete(
    "/{org_id}/members/{user_id}/roles/{role_id}",
    status_code=204,
    summary="Take a custom role from a member",
    responses={**epoch_response(204, "Unassigned."), **problems(401, 403, 404, 409, 422)},
)
def unassign_role(org_id: OrgId, user_id: UserId, role_id: RoleId, run: Run) -> Response:
    """Needs `role:assign`; nobody unassigns their own roles."""
    done = run(lambda uow: roles.unassign_role(uow, run.deps, run.caller, org_id, user_id, role_id))
    return changed(None, done.epoch)
