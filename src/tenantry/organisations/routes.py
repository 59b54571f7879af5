"""`/v1/organisations`: register, read, update, delete, provisioning retry, members."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from tenantry.domain.paging import DEFAULT_PAGE_SIZE
from tenantry.flows.registration import register_and_provision, retry_and_provision
from tenantry.http.deps import Run
from tenantry.http.openapi import problems
from tenantry.http.wire import Cursor, Limit, OrgId, Page, changed, encoded, epoch_response
from tenantry.organisations import service as orgs
from tenantry.organisations.schemas import (
    MemberOut,
    MyOrganisationOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
)

router = APIRouter(prefix="/v1/organisations", tags=["organisations"])


@router.post(
    "",
    status_code=201,
    summary="Register an organisation",
    responses=problems(413, 415, 422, 401, 409, 429),
)
def register(body: OrganisationIn, run: Run) -> OrganisationOut:
    """The caller becomes OWNER; the answer is the organisation after provisioning (ACTIVE, or
    FAILED naming the step)."""
    org = register_and_provision(run, run.tenantry.jobs, name=body.name, slug=body.slug)
    return OrganisationOut.of(org)


@router.get("", summary="The caller's organisations", responses=problems(401, 422))
def list_mine(
    run: Run, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[MyOrganisationOut]:
    """Active memberships of organisations that are not deleted, with the caller's role; paged."""
    page = run(
        lambda uow: orgs.list_my_organisations(
            uow, run.deps, run.caller, limit=limit, cursor=cursor
        )
    )
    return Page(
        items=[MyOrganisationOut.of_membership(org, membership) for org, membership in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{org_id}", summary="An organisation", responses=problems(401, 404, 422))
def get(org_id: OrgId, run: Run) -> OrganisationOut:
    """Needs `organisation:read` in a token for this organisation; any other organisation answers
    404."""
    org = run(lambda uow: orgs.get_organisation(uow, run.deps, run.caller, org_id))
    return OrganisationOut.of(org)


@router.patch(
    "/{org_id}",
    summary="Rename an organisation or change its settings",
    response_model=OrganisationOut,
    responses=problems(413, 415, 422, 401, 403, 404, 409),
)
def update(org_id: OrgId, body: OrganisationPatch, run: Run) -> JSONResponse:
    """Needs `organisation:update`. `settings` merge shallowly: a key set to null is removed."""
    return run(
        lambda uow: encoded(
            OrganisationOut.of(
                orgs.update_organisation(
                    uow, run.deps, run.caller, org_id, name=body.name, settings=body.settings
                )
            )
        )
    )


@router.delete(
    "/{org_id}",
    status_code=204,
    summary="Delete an organisation",
    responses={**epoch_response(204, "Deleted."), **problems(401, 403, 404, 409, 422)},
)
def delete(org_id: OrgId, run: Run) -> Response:
    """Needs `organisation:delete` (OWNER). Soft delete: tokens for it stop working at once; its
    slug stays taken."""
    deleted = run(lambda uow: orgs.delete_organisation(uow, run.deps, run.caller, org_id))
    return changed(None, deleted.authz_epoch)


@router.post(
    "/{org_id}/provisioning/retry",
    summary="Retry a failed provisioning",
    responses=problems(401, 403, 404, 409, 422),
)
def retry(org_id: OrgId, run: Run) -> OrganisationOut:
    """Needs `organisation:update`; allowed when provisioning FAILED, or stalled for ten minutes."""
    return OrganisationOut.of(retry_and_provision(run, run.tenantry.jobs, org_id))


@router.get(
    "/{org_id}/members",
    summary="The organisation's members",
    responses=problems(401, 403, 404, 422),
)
def members(
    org_id: OrgId,
    run: Run,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    """Needs `member:read`. Active members by join time, paged by `limit` and `cursor`."""
    page = run(
        lambda uow: orgs.list_members(
            uow, run.deps, run.caller, org_id, limit=limit, cursor=cursor
        ),
    )
    return Page(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)
