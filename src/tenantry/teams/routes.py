"""`/v1/organisations/{org_id}/teams` and their members; `/v1/me/teams`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from tenantry.domain.paging import DEFAULT_PAGE_SIZE
from tenantry.http.deps import Run
from tenantry.http.openapi import problems
from tenantry.http.wire import (
    Cursor,
    Limit,
    OrgId,
    Page,
    TeamId,
    UserId,
    changed,
    epoch_response,
)
from tenantry.teams import members as team_members
from tenantry.teams import service as teams
from tenantry.teams.schemas import (
    TeamIn,
    TeamList,
    TeamMemberIn,
    TeamMemberOut,
    TeamMemberPatch,
    TeamOut,
    TeamPatch,
)
from tenantry.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/organisations", tags=["teams"])
me_router = APIRouter(prefix="/v1/me", tags=["teams"])
_READ = problems(401, 403, 404, 422)
_WRITE = problems(413, 415, 401, 403, 404, 409, 422)


@router.get("/{org_id}/teams", summary="The organisation's teams", responses=_READ)
def list_teams(
    org_id: OrgId, run: Run, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> Page[TeamOut]:
    """Needs `team:read`. By creation time, paged."""
    page = run(
        lambda uow: teams.list_teams(uow, run.deps, run.caller, org_id, limit=limit, cursor=cursor)
    )
    return Page(items=[TeamOut.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{org_id}/teams",
    status_code=201,
    summary="Create a team",
    response_model=TeamOut,
    responses={**epoch_response(201, "The team."), **_WRITE},
)
def create_team(org_id: OrgId, body: TeamIn, run: Run) -> Response:
    """Needs `team:create`. A new team has no members."""

    def use_case(uow: UnitOfWork) -> Response:
        done = teams.create_team(
            uow, run.deps, run.caller, org_id, name=body.name, description=body.description
        )
        return changed(TeamOut.of(done.value), done.epoch, 201)

    return run(use_case)


@router.get("/{org_id}/teams/{team_id}", summary="A team", responses=_READ)
def get_team(org_id: OrgId, team_id: TeamId, run: Run) -> TeamOut:
    """Needs `team:read` (in the organisation, or within the team)."""
    return TeamOut.of(run(lambda uow: teams.get_team(uow, run.deps, run.caller, org_id, team_id)))


@router.patch(
    "/{org_id}/teams/{team_id}",
    summary="Rename a team or change its description",
    response_model=TeamOut,
    responses={**epoch_response(200, "The team."), **_WRITE},
)
def update_team(org_id: OrgId, team_id: TeamId, body: TeamPatch, run: Run) -> Response:
    """Needs `team:update`."""

    def use_case(uow: UnitOfWork) -> Response:
        done = teams.update_team(
            uow,
            run.deps,
            run.caller,
            org_id,
            team_id,
            name=body.name,
            description=body.description,
        )
        return changed(TeamOut.of(done.value), done.epoch)

    return run(use_case)


@router.delete(
    "/{org_id}/teams/{team_id}",
    status_code=204,
    summary="Delete a team",
    responses={**epoch_response(204, "Deleted."), **problems(401, 403, 404, 409, 422)},
)
def delete_team(org_id: OrgId, team_id: TeamId, run: Run) -> Response:
    """Needs `team:delete`. Its memberships end with it."""
    done = run(lambda uow: teams.delete_team(uow, run.deps, run.caller, org_id, team_id))
    return changed(None, done.epoch)


@router.get("/{org_id}/teams/{team_id}/members", summary="A team's members", responses=_READ)
def list_team_members(
    org_id: OrgId,
    team_id: TeamId,
    run: Run,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Page[TeamMemberOut]:
    """Needs `team:read` (in the organisation, or within the team). By join time, paged."""
    page = run(
        lambda uow: team_members.list_team_members(
            uow, run.deps, run.caller, org_id, team_id, limit=limit, cursor=cursor
        )
    )
    return Page(items=[TeamMemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{org_id}/teams/{team_id}/members",
    status_code=201,
    summary="Add a member of the organisation to a team",
    response_model=TeamMemberOut,
    responses={**epoch_response(201, "The team membership."), **_WRITE},
)
def add_team_member(org_id: OrgId, team_id: TeamId, body: TeamMemberIn, run: Run) -> Response:
    """Needs `team:member:add` in the organisation or within the team (a LEAD has it), and
    holding what the team role grants."""

    def use_case(uow: UnitOfWork) -> Response:
        done = team_members.add_team_member(
            uow,
            run.deps,
            run.caller,
            org_id,
            team_id,
            user_id=body.user_id,
            team_role=body.team_role,
        )
        return changed(TeamMemberOut.of(done.value), done.epoch, 201)

    return run(use_case)


@router.patch(
    "/{org_id}/teams/{team_id}/members/{user_id}",
    summary="Change a member's team role",
    response_model=TeamMemberOut,
    responses={**epoch_response(200, "The team membership."), **_WRITE},
)
def change_team_role(
    org_id: OrgId, team_id: TeamId, user_id: UserId, body: TeamMemberPatch, run: Run
) -> Response:
    """Needs `team:member:add` in the organisation or within the team; nobody changes their
    own team role."""

    def use_case(uow: UnitOfWork) -> Response:
        done = team_members.change_team_role(
            uow, run.deps, run.caller, org_id, team_id, user_id, team_role=body.team_role
        )
        return changed(TeamMemberOut.of(done.value), done.epoch)

    return run(use_case)


@router.delete(
    "/{org_id}/teams/{team_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member from a team, or leave it",
    responses={**epoch_response(204, "Removed."), **problems(401, 403, 404, 409, 422)},
)
def remove_team_member(org_id: OrgId, team_id: TeamId, user_id: UserId, run: Run) -> Response:
    """Needs `team:member:remove` in the organisation or within the team, except to leave."""
    done = run(
        lambda uow: team_members.remove_team_member(
            uow, run.deps, run.caller, org_id, team_id, user_id
        )
    )
    return changed(None, done.epoch)


@me_router.get("/teams", summary="The caller's teams", responses=problems(401, 404, 422))
def my_teams(run: Run) -> TeamList:
    """The caller's teams in the organisation their token is for (none for a token without
    an organisation)."""
    found = run(lambda uow: teams.my_teams(uow, run.deps, run.caller))
    return TeamList(items=[TeamOut.of(t) for t in found])
