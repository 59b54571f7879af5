"""Team members: list, add, change the team role of, and remove.

Checked within the team: a team LEAD holds `team:member:add` and `team:member:remove` there,
so leads manage their own team without those permissions in the organisation. Giving a team
role is granting: the caller must hold, within the team, what it grants. Only active members
of the organisation join its teams; `member_count` moves by increments in the same
transaction as the membership.
"""

from __future__ import annotations

from dataclasses import replace

from tenantry.access.checks import (
    caller_access,
    member_or_raise,
    permission_denied,
    refuse_self,
    require_holding,
)
from tenantry.access.epoch import Changed, bump_epoch
from tenantry.access.events import access_event, refusals_audited
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import EventType
from tenantry.domain.errors import Conflict, Invalid, NotFound
from tenantry.domain.model import Page
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.domain.roles import TEAM_ROLE_PERMISSIONS, RoleScope, TeamRole, is_custom_role_id
from tenantry.domain.teams import TeamMembership
from tenantry.teams.service import TEAM, team_or_raise, within_team
from tenantry.unit_of_work import UnitOfWork


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
    within_team(uow, principal, org_id, team_id, "team:read")
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
    _, access = within_team(uow, principal, org_id, team_id, "team:member:add")
    team_or_raise(uow, org_id, team_id)
    member = member_or_raise(uow, org_id, user_id)
    require_team_role_grant(uow, principal, access, team_id, team_role, action="team.member_add")
    if uow.team_memberships.get(org_id, team_id, user_id) is not None:
        raise Conflict("already a member of the team", code="already_team_member")
    now = deps.clock.now()
    joined = TeamMembership(
        org_id, team_id, user_id, team_role, now, email=member.email, name=member.name
    )
    epoch = bump_epoch(uow, access)
    uow.team_memberships.add(joined)
    uow.teams.add_to_member_count(org_id, team_id, 1)
    uow.memberships.require_active(org_id, user_id)
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
    _, access = within_team(uow, principal, org_id, team_id, "team:member:add")
    refuse_self(principal, user_id, org_id=org_id, action="team.member_role", resource_type=TEAM)
    current = team_member_or_raise(uow, org_id, team_id, user_id)
    require_team_role_grant(uow, principal, access, team_id, team_role, action="team.member_role")
    if current.team_role == team_role:
        return Changed(current, access.epoch)
    epoch = bump_epoch(uow, access)
    uow.team_memberships.set_role(org_id, team_id, user_id, team_role)
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
    epoch = bump_epoch(uow, access)
    uow.team_memberships.remove(org_id, team_id, user_id)
    uow.teams.add_to_member_count(org_id, team_id, -1)
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


def team_member_or_raise(
    uow: UnitOfWork, org_id: str, team_id: str, user_id: str
) -> TeamMembership:
    team_or_raise(uow, org_id, team_id)
    membership = uow.team_memberships.get(org_id, team_id, user_id)
    if membership is None:
        raise NotFound("not a member of the team", code="team_member_not_found")
    return membership


def require_team_role_grant(
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
