"""`/v1/organisations`: register, read, update, delete, provisioning retry, members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tenantry.flows.registration import register_and_provision, retry_and_provision
from tenantry.http.deps import Run
from tenantry.http.wire import Page
from tenantry.organisations import service as orgs
from tenantry.organisations.schemas import (
    MemberOut,
    MyOrganisationOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
)

router = APIRouter(prefix="/v1/organisations", tags=["organisations"])

# Ids fit the 40-character id columns; a longer one is malformed input, refused before it
# reaches a query or the audit insert of the refusal (where PostgreSQL would reject it).
OrgId = Annotated[str, Path(max_length=40)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.post("", status_code=201)
def register(body: OrganisationIn, run: Run) -> OrganisationOut:
    org = register_and_provision(run, run.tenantry.jobs, name=body.name, slug=body.slug)
    return OrganisationOut.of(org)


@router.get("")
def list_mine(
    run: Run, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[MyOrganisationOut]:
    page = run(
        lambda uow: orgs.list_my_organisations(
            uow, run.deps, run.caller, limit=limit, cursor=cursor
        )
    )
    return Page(
        items=[MyOrganisationOut.of_membership(org, membership) for org, membership in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{org_id}")
def get(org_id: OrgId, run: Run) -> OrganisationOut:
    org = run(lambda uow: orgs.get_organisation(uow, run.deps, run.caller, org_id))
    return OrganisationOut.of(org)


@router.patch("/{org_id}")
def update(org_id: OrgId, body: OrganisationPatch, run: Run) -> OrganisationOut:
    org = run(
        lambda uow: orgs.update_organisation(
            uow, run.deps, run.caller, org_id, name=body.name, settings=body.settings
        )
    )
    return OrganisationOut.of(org)


@router.delete("/{org_id}", status_code=204)
def delete(org_id: OrgId, run: Run) -> Response:
    run(lambda uow: orgs.delete_organisation(uow, run.deps, run.caller, org_id))
    return Response(status_code=204)


@router.post("/{org_id}/provisioning/retry")
def retry(org_id: OrgId, run: Run) -> OrganisationOut:
    return OrganisationOut.of(retry_and_provision(run, run.tenantry.jobs, org_id))


@router.get("/{org_id}/members")
def members(
    org_id: OrgId,
    run: Run,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    page = run(
        lambda uow: orgs.list_members(
            uow, run.deps, run.caller, org_id, limit=limit, cursor=cursor
        ),
    )
    return Page(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)
