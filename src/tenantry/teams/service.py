"""Teams: list, read, create, rename, delete; add, re-role and remove team members.

Team-member changes are checked within the team: a team LEAD holds `team:member:add` and
`team:member:remove` there, so leads manage their own team without those permissions in the
organisation. A team role is LEAD, MEMBER or a TEAM-scoped custom role, and giving one is
granting: the caller must hold what it grants, within the team. Only active members of the
organisation join its teams; `member_count` moves by increments in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace

from tenantry.access.checks import (
    caller_access,
    member_or_raise,
    permission_denied,
    refuse_self,
    require_holding,
    require_permission,
)
from tenantry.access.epoch import Changed, bump_epoch
from tenantry.access.events import access_event, refusals_audited
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import EventType
from tenantry.domain.errors import Conflict, Invalid, NotFound
from tenantry.domain.ids import new_id
from tenantry.domain.model import Organisation, Page
from tenantry.domain.names import clean_description, clean_name
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.domain.roles import TEAM_ROLE_PERMISSIONS, RoleScope, TeamRole, is_custom_role_id
from tenantry.domain.teams import MAX_TEAM_DESCRIPTION, MAX_TEAMS_PER_ORG, Team, TeamMembership
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
    _within_team(uow, principal, org_id, team_id, "team:read")
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
    uow.teams.add(team)
    # Not an access change by itself; the bump serialises creations against the cap.
    epoch = bump_epoch(uow, access)
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
    _, access = _within_team(uow, principal, org_id, team_id, "team:update")
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
    uow.teams.update(changed)
    epoch = bump_epoch(uow, access)
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
    for member in members:
        uow.team_memberships.remove(org_id, team_id, member.user_id)
    uow.teams.delete(org_id, team_id)
    epoch = bump_epoch(uow, access)
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


@refusals_audited("team:read", TEAM, EventType.TEAM_MEMBERSHIP)
def list_team_members(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    team_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[TeamMembership]:
    check_page_size(limit)
    _within_team(uow, principal, org_id, team_id, "team:read")
    team_or_raise(uow, org_id, team_id)
    return uow.team_memberships.list_for_team(org_id, team_id, limit=limit, cursor=cursor)


@refusals_audited("team.member_add", TEAM, EventType.TEAM_MEMBERSHIP)
def add_team_member(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    team_id: str,
    *,
    user_id: str,
    team_role: str,
) -> Changed[TeamMembership]:
    _, access = _within_team(uow, principal, org_id, team_id, "team:member:add")
    team_or_raise(uow, org_id, team_id)
    member = member_or_raise(uow, org_id, user_id)
    _require_granting(uow, principal, access, team_id, team_role, action="team.member_add")
    if uow.team_memberships.get(org_id, team_id, user_id) is not None:
        raise Conflict("already a member of the team", code="already_team_member")
    now = deps.clock.now()
    joined = TeamMembership(
        org_id, team_id, user_id, team_role, now, email=member.email, name=member.name
    )
    uow.team_memberships.add(joined)
    uow.teams.add_to_member_count(org_id, team_id, 1)
    uow.memberships.require_active(org_id, user_id)
    epoch = bump_epoch(uow, access)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.TEAM_MEMBERSHIP,
            "team.member_add",
            resource_type=TEAM,
            resource_id=team_id,
            epoch=epoch,
            after={"team_role": team_role},
            user_id=user_id,
        ),
        at=now,
    )
    return Changed(joined, epoch)


@refusals_audited("team.member_role", TEAM, EventType.TEAM_MEMBERSHIP)
def change_team_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    team_id: str,
    user_id: str,
    *,
    team_role: str,
) -> Changed[TeamMembership]:
    _, access = _within_team(uow, principal, org_id, team_id, "team:member:add")
    refuse_self(principal, user_id, org_id=org_id, action="team.member_role", resource_type=TEAM)
    current = team_member_or_raise(uow, org_id, team_id, user_id)
    _require_granting(uow, principal, access, team_id, team_role, action="team.member_role")
    if current.team_role == team_role:
        return Changed(current, access.epoch)
    uow.team_memberships.set_role(org_id, team_id, user_id, team_role)
    epoch = bump_epoch(uow, access)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.TEAM_MEMBERSHIP,
            "team.member_role",
            resource_type=TEAM,
            resource_id=team_id,
            epoch=epoch,
            before={"team_role": current.team_role},
            after={"team_role": team_role},
            user_id=user_id,
        ),
        at=deps.clock.now(),
    )
    return Changed(replace(current, team_role=team_role), epoch)


@refusals_audited("team.member_remove", TEAM, EventType.TEAM_MEMBERSHIP)
def remove_team_member(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    team_id: str,
    user_id: str,
) -> Changed[TeamMembership]:
    """Remove a member from the team; a member may always leave a team themselves."""
    leaving = user_id == principal.user_id
    _, access = caller_access(
        uow,
        principal,
        org_id,
        action="team:member:remove",
        resource_type=TEAM,
        resource_id=team_id,
    )
    if not leaving and access.grant_for("team:member:remove", team_id) is None:
        raise permission_denied(principal, org_id, "team:member:remove", TEAM, team_id)
    current = team_member_or_raise(uow, org_id, team_id, user_id)
    uow.team_memberships.remove(org_id, team_id, user_id)
    uow.teams.add_to_member_count(org_id, team_id, -1)
    epoch = bump_epoch(uow, access)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.TEAM_MEMBERSHIP,
            "team.member_leave" if leaving else "team.member_remove",
            resource_type=TEAM,
            resource_id=team_id,
            epoch=epoch,
            before={"team_role": current.team_role},
            user_id=user_id,
        ),
        at=deps.clock.now(),
    )
    return Changed(current, epoch)


def _within_team(
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


def team_member_or_raise(
    uow: UnitOfWork, org_id: str, team_id: str, user_id: str
) -> TeamMembership:
    team_or_raise(uow, org_id, team_id)
    membership = uow.team_memberships.get(org_id, team_id, user_id)
    if membership is None:
        raise NotFound("not a member of the team", code="team_member_not_found")
    return membership


def _require_granting(
    uow: UnitOfWork,
    principal: Principal,
    access: AccessSnapshot,
    team_id: str,
    team_role: str,
    *,
    action: str,
) -> None:
    """`team_role` is LEAD, MEMBER or a TEAM role of this organisation, and the caller holds,
    within the team, everything it grants."""
    if team_role in TeamRole.__members__:
        permissions = TEAM_ROLE_PERMISSIONS[TeamRole(team_role)]
    elif is_custom_role_id(team_role):
        role = uow.roles.get(access.org_id, team_role)
        if role is None:
            raise NotFound("role not found", code="role_not_found")
        if role.scope is not RoleScope.TEAM:
            raise Invalid("only a TEAM-scoped role can be a team role", code="role_scope_mismatch")
        permissions = role.permissions
    else:
        raise Invalid(
            "team_role is LEAD, MEMBER or the id of a TEAM-scoped role", code="invalid_team_role"
        )
    require_holding(
        principal,
        access,
        permissions,
        action=action,
        resource_type=TEAM,
        resource_id=team_id,
        team_id=team_id,
    )


def _record(team: Team) -> dict[str, str]:
    return {"name": team.name, "description": team.description}
