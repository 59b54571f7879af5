"""Teams: list, read, find, create, rename, delete. Their members are `teams.members`.

A team's reads and edits are checked within the team (`within_team`): a grant a member holds
in that team counts as well as one held organisation-wide. Deleting a team ends its
memberships in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace

from tenantry.access.checks import (
    caller_access,
    require_permission,
)
from tenantry.access.epoch import Changed, bump_epoch
from tenantry.access.events import access_event, refusals_audited
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import EventType
from tenantry.domain.errors import Conflict, NotFound
from tenantry.domain.ids import new_id
from tenantry.domain.model import Organisation, Page
from tenantry.domain.names import clean_description, clean_name
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.domain.teams import MAX_TEAM_DESCRIPTION, MAX_TEAMS_PER_ORG, Team
from tenantry.unit_of_work import UnitOfWork

TEAM = "team"


@refusals_audited("team:read", TEAM, EventType.CONFIGURATION)
def list_teams(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Team]:
    check_page_size(limit)
    require_permission(uow, principal, org_id, "team:read", resource_type=TEAM, resource_id=org_id)
    return uow.teams.list(org_id, limit=limit, cursor=cursor)


def my_teams(uow: UnitOfWork, deps: ServiceDeps, principal: Principal) -> list[Team]:
    """The caller's teams in the organisation their token is for, and no other."""
    if principal.org_id is None:
        return []
    caller_access(
        uow,
        principal,
        principal.org_id,
        action="team:read",
        resource_type=TEAM,
        resource_id=principal.org_id,
    )
    mine = uow.team_memberships.list_for_user(principal.org_id, principal.user_id)
    teams = uow.teams.get_many(principal.org_id, [m.team_id for m in mine])
    return sorted(teams, key=lambda team: (team.created_at, team.id))


@refusals_audited("team:read", TEAM, EventType.CONFIGURATION)
def get_team(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, team_id: str
) -> Team:
    within_team(uow, principal, org_id, team_id, "team:read")
    return team_or_raise(uow, org_id, team_id)


@refusals_audited("team:read", TEAM, EventType.CONFIGURATION)
def find_team(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, ref: str
) -> Team:
    """The team `ref` names: its id (`team_…`), or its name ignoring case (names are unique so,
    as the store's index on `lower(name)` keeps them); else 404 `team_not_found`. A name is
    looked for in every page of the organisation's teams (at most `MAX_TEAMS_PER_ORG`)."""
    if ref.startswith(f"{TEAM}_"):
        return get_team(uow, deps, principal, org_id, ref)
    # A name is looked for among the organisation's teams, which is what is read.
    require_permission(uow, principal, org_id, "team:read", resource_type=TEAM, resource_id=org_id)
    wanted = ref.lower()
    cursor: str | None = None
    while True:
        page = uow.teams.list(org_id, limit=MAX_PAGE_SIZE, cursor=cursor)
        for team in page.items:
            if team.name.lower() == wanted:
                return team
        if (cursor := page.next_cursor) is None:
            raise NotFound("no team of the organisation has this name", code="team_not_found")


@refusals_audited("team.create", TEAM, EventType.CONFIGURATION)
def create_team(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    name: str,
    description: str = "",
) -> Changed[Team]:
    _, access = require_permission(
        uow, principal, org_id, "team:create", resource_type=TEAM, resource_id=org_id
    )
    team = Team(
        id=new_id(TEAM),
        org_id=org_id,
        name=clean_name(name),
        description=clean_description(description, max_length=MAX_TEAM_DESCRIPTION),
        created_at=deps.clock.now(),
    )
    if uow.teams.count(org_id) >= MAX_TEAMS_PER_ORG:
        raise Conflict(
            f"an organisation has at most {MAX_TEAMS_PER_ORG} teams",
            code="team_limit_reached",
            extra={"limit": MAX_TEAMS_PER_ORG},
        )
    # Not an access change by itself; the bump serialises creations against the cap.
    epoch = bump_epoch(uow, access)
    uow.teams.add(team)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.CONFIGURATION,
            "team.create",
            resource_type=TEAM,
            resource_id=team.id,
            epoch=epoch,
            after=_record(team),
        ),
        at=team.created_at,
    )
    return Changed(team, epoch)


@refusals_audited("team.update", TEAM, EventType.CONFIGURATION)
def update_team(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    team_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Changed[Team]:
    _, access = within_team(uow, principal, org_id, team_id, "team:update")
    team = team_or_raise(uow, org_id, team_id)
    changed = replace(
        team,
        name=clean_name(name) if name is not None else team.name,
        description=(
            clean_description(description, max_length=MAX_TEAM_DESCRIPTION)
            if description is not None
            else team.description
        ),
    )
    if changed == team:
        return Changed(team, access.epoch)
    epoch = bump_epoch(uow, access)
    uow.teams.update(changed)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.CONFIGURATION,
            "team.update",
            resource_type=TEAM,
            resource_id=team_id,
            epoch=epoch,
            before=_record(team),
            after=_record(changed),
        ),
        at=deps.clock.now(),
    )
    return Changed(changed, epoch)


@refusals_audited("team.delete", TEAM, EventType.CONFIGURATION)
def delete_team(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, team_id: str
) -> Changed[Team]:
    """Delete the team; its memberships end with it."""
    _, access = require_permission(
        uow, principal, org_id, "team:delete", resource_type=TEAM, resource_id=team_id
    )
    team = team_or_raise(uow, org_id, team_id)
    members = uow.team_memberships.all_for_team(org_id, team_id)
    epoch = bump_epoch(uow, access)
    uow.team_memberships.end_all_for_team(org_id, team_id)
    uow.teams.delete(org_id, team_id)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.CONFIGURATION,
            "team.delete",
            resource_type=TEAM,
            resource_id=team_id,
            epoch=epoch,
            before=_record(team),
            members_removed=[m.user_id for m in members],
        ),
        at=deps.clock.now(),
    )
    return Changed(team, epoch)


def within_team(
    uow: UnitOfWork, principal: Principal, org_id: str, team_id: str, permission: str
) -> tuple[Organisation, AccessSnapshot]:
    """The caller holds `permission` in the organisation, or within this team."""
    return require_permission(
        uow,
        principal,
        org_id,
        permission,
        resource_type=TEAM,
        resource_id=team_id,
        team_id=team_id,
    )


def team_or_raise(uow: UnitOfWork, org_id: str, team_id: str) -> Team:
    team = uow.teams.get(org_id, team_id)
    if team is None:
        raise NotFound("team not found", code="team_not_found")
    return team


def _record(team: Team) -> dict[str, str]:
    return {"name": team.name, "description": team.description}
