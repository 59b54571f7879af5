"""Custom roles: list, read, create, edit (with a dry run), delete, assign and unassign.

Granting is bounded by what the caller holds: the permissions a role is created with or
gains, and every permission of a role being assigned, must be covered by the caller's own
grants (`access.checks.require_holding`). Taking away (removing permissions, unassigning,
deleting a role) needs only the permission for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tenantry.access.checks import (
    member_or_raise,
    read_member_access,
    refuse_self,
    require_holding,
    require_permission,
)
from tenantry.access.epoch import Changed, bump_epoch
from tenantry.access.events import access_event, refusals_audited
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessDiff, access_diff
from tenantry.domain.audit import EventType
from tenantry.domain.errors import Conflict, Invalid, NotFound
from tenantry.domain.ids import new_id
from tenantry.domain.model import Organisation
from tenantry.domain.names import clean_description, clean_name
from tenantry.domain.principal import Principal
from tenantry.domain.roles import (
    MAX_ROLE_DESCRIPTION,
    MAX_ROLE_NAME,
    MAX_ROLES_PER_ORG,
    ROLE_ID_PREFIX,
    Role,
    RoleAssignment,
    RoleScope,
    is_custom_role_id,
    role_permissions,
)
from tenantry.unit_of_work import UnitOfWork

ROLE = "role"


@refusals_audited("role:read", ROLE, EventType.ROLE_CHANGE)
def list_roles(uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str) -> list[Role]:
    require_permission(uow, principal, org_id, "role:read", resource_type=ROLE, resource_id=org_id)
    return uow.roles.list(org_id)


@refusals_audited("role:read", ROLE, EventType.ROLE_CHANGE)
def get_role(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, role_id: str
) -> Role:
    require_permission(uow, principal, org_id, "role:read", resource_type=ROLE, resource_id=role_id)
    return role_or_raise(uow, org_id, role_id)


@refusals_audited("role:read", ROLE, EventType.ROLE_CHANGE)
def find_role(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, ref: str
) -> Role:
    """The role `ref` names: its id (`rol_…`), or its name ignoring case (names are unique so,
    as the store's index on `lower(name)` keeps them); else 404 `role_not_found`."""
    if is_custom_role_id(ref):
        return get_role(uow, deps, principal, org_id, ref)
    # A name is looked for among the organisation's roles, which is what is read.
    require_permission(uow, principal, org_id, "role:read", resource_type=ROLE, resource_id=org_id)
    wanted = ref.lower()
    for role in uow.roles.list(org_id):
        if role.name.lower() == wanted:
            return role
    raise NotFound("no role of the organisation has this name", code="role_not_found")


@refusals_audited("role.create", ROLE, EventType.ROLE_CHANGE)
def create_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    name: str,
    permissions: list[str],
    description: str = "",
    scope: RoleScope = RoleScope.ORGANISATION,
) -> Changed[Role]:
    _, access = require_permission(
        uow, principal, org_id, "role:create", resource_type=ROLE, resource_id=org_id
    )
    role = Role(
        id=new_id(ROLE_ID_PREFIX),
        org_id=org_id,
        name=clean_name(name, max_length=MAX_ROLE_NAME),
        permissions=role_permissions(permissions),
        scope=scope,
        description=clean_description(description, max_length=MAX_ROLE_DESCRIPTION),
        created_at=deps.clock.now(),
    )
    require_holding(
        principal,
        access,
        role.permissions,
        action="role:create",
        resource_type=ROLE,
        resource_id=role.id,
    )
    existing = uow.roles.list(org_id)
    if len(existing) >= MAX_ROLES_PER_ORG:
        raise Conflict(
            f"an organisation has at most {MAX_ROLES_PER_ORG} custom roles",
            code="role_limit_reached",
            extra={"limit": MAX_ROLES_PER_ORG},
        )
    _refuse_taken_name(existing, role)
    epoch = bump_epoch(uow, access)
    uow.roles.add(role)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.ROLE_CHANGE,
            "role.create",
            resource_type=ROLE,
            resource_id=role.id,
            epoch=epoch,
            after=role_record(role),
        ),
        at=role.created_at,
    )
    return Changed(role, epoch)


@dataclass(frozen=True, slots=True)
class RolePreview:
    """What an edit would do, without doing it: the role as it would be saved, and who would
    gain and lose which permission (organisation-wide, or within each team for a TEAM role)."""

    role: Role
    changes: list[AccessDiff]
    epoch: int


@refusals_audited("role.update", ROLE, EventType.ROLE_CHANGE)
def update_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    role_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: list[str] | None = None,
    dry_run: bool = False,
) -> Changed[Role] | RolePreview:
    org, access = require_permission(
        uow, principal, org_id, "role:update", resource_type=ROLE, resource_id=role_id
    )
    role = role_or_raise(uow, org_id, role_id)
    edited = _edited(role, name, description, permissions, deps)
    gained = [p for p in edited.permissions if p not in role.permissions]
    # Holding a role does not let you raise it: whatever it gains, you must already hold.
    require_holding(
        principal, access, gained, action="role:update", resource_type=ROLE, resource_id=role_id
    )
    if edited.name != role.name:
        _refuse_taken_name(uow.roles.list(org_id), edited)
    if dry_run:
        return RolePreview(edited, _preview(uow, org, role, edited), access.epoch)
    if edited == replace(role, updated_at=edited.updated_at):
        return Changed(role, access.epoch)  # nothing to change, nothing to record
    epoch = bump_epoch(uow, access)
    uow.roles.update(edited)
    lost = [p for p in role.permissions if p not in edited.permissions]
    kind = EventType.PERMISSION_CHANGE if gained or lost else EventType.ROLE_CHANGE
    uow.audit.append(
        access_event(
            principal,
            org_id,
            kind,
            "role.update",
            resource_type=ROLE,
            resource_id=role_id,
            epoch=epoch,
            before=role_record(role),
            after=role_record(edited),
            added=gained,
            removed=lost,
        ),
        at=deps.clock.now(),
    )
    return Changed(edited, epoch)


@refusals_audited("role.delete", ROLE, EventType.ROLE_CHANGE)
def delete_role(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, role_id: str
) -> Changed[Role]:
    """Delete the role, its assignments with it; members holding it as a team role are
    MEMBERs of those teams after."""
    _, access = require_permission(
        uow, principal, org_id, "role:delete", resource_type=ROLE, resource_id=role_id
    )
    role = role_or_raise(uow, org_id, role_id)
    assignments = uow.role_assignments.list_for_role(org_id, role_id)
    in_teams = uow.team_memberships.list_with_role(org_id, role_id)
    epoch = bump_epoch(uow, access)
    uow.role_assignments.end_all_for_role(org_id, role_id)
    uow.team_memberships.reset_team_role(org_id, role_id)
    uow.roles.delete(org_id, role_id)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.ROLE_CHANGE,
            "role.delete",
            resource_type=ROLE,
            resource_id=role_id,
            epoch=epoch,
            before=role_record(role),
            unassigned=[a.user_id for a in assignments],
            team_roles_reset=[{"team_id": m.team_id, "user_id": m.user_id} for m in in_teams],
        ),
        at=deps.clock.now(),
    )
    return Changed(role, epoch)


@refusals_audited("role.assign", "member", EventType.ROLE_CHANGE)
def assign_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    user_id: str,
    role_id: str,
) -> Changed[RoleAssignment]:
    """Idempotent: assigning a role the member holds changes nothing."""
    _, access = require_permission(
        uow, principal, org_id, "role:assign", resource_type="member", resource_id=user_id
    )
    refuse_self(principal, user_id, org_id=org_id, action="role.assign", resource_type="member")
    member_or_raise(uow, org_id, user_id)
    role = role_or_raise(uow, org_id, role_id)
    if role.scope is not RoleScope.ORGANISATION:
        raise Invalid(
            "a TEAM role is given as a team role, not assigned to a member",
            code="role_scope_mismatch",
        )
    require_holding(
        principal,
        access,
        role.permissions,
        action="role.assign",
        resource_type="member",
        resource_id=user_id,
    )
    held = uow.role_assignments.list_for_member(org_id, user_id)
    already = next((a for a in held if a.role_id == role_id), None)
    if already is not None:
        return Changed(already, access.epoch)
    now = deps.clock.now()
    assignment = RoleAssignment(org_id, user_id, role_id, now, principal.user_id)
    epoch = bump_epoch(uow, access)
    uow.role_assignments.add(assignment)
    uow.memberships.require_active(org_id, user_id)
    before = [a.role_id for a in held]
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.ROLE_CHANGE,
            "role.assign",
            resource_type="member",
            resource_id=user_id,
            epoch=epoch,
            before={"role_ids": before},
            after={"role_ids": [*before, role_id]},
            role_id=role_id,
            role_name=role.name,
        ),
        at=now,
    )
    return Changed(assignment, epoch)


@refusals_audited("role.unassign", "member", EventType.ROLE_CHANGE)
def unassign_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    user_id: str,
    role_id: str,
) -> Changed[None]:
    _, access = require_permission(
        uow, principal, org_id, "role:assign", resource_type="member", resource_id=user_id
    )
    refuse_self(principal, user_id, org_id=org_id, action="role.unassign", resource_type="member")
    held = uow.role_assignments.list_for_member(org_id, user_id)
    if all(a.role_id != role_id for a in held):
        raise NotFound("the member does not hold this role", code="role_not_assigned")
    epoch = bump_epoch(uow, access)
    uow.role_assignments.remove(org_id, user_id, role_id)
    before = [a.role_id for a in held]
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.ROLE_CHANGE,
            "role.unassign",
            resource_type="member",
            resource_id=user_id,
            epoch=epoch,
            before={"role_ids": before},
            after={"role_ids": [r for r in before if r != role_id]},
            role_id=role_id,
        ),
        at=deps.clock.now(),
    )
    return Changed(None, epoch)


def role_or_raise(uow: UnitOfWork, org_id: str, role_id: str) -> Role:
    role = uow.roles.get(org_id, role_id)
    if role is None:
        raise NotFound("role not found", code="role_not_found")
    return role


def role_record(role: Role) -> dict[str, Any]:
    """A role as an audit event's `before` or `after`."""
    return {
        "name": role.name,
        "description": role.description,
        "permissions": list(role.permissions),
        "scope": role.scope.value,
    }


def _edited(
    role: Role,
    name: str | None,
    description: str | None,
    permissions: list[str] | None,
    deps: ServiceDeps,
) -> Role:
    return replace(
        role,
        name=clean_name(name, max_length=MAX_ROLE_NAME) if name is not None else role.name,
        description=(
            clean_description(description, max_length=MAX_ROLE_DESCRIPTION)
            if description is not None
            else role.description
        ),
        permissions=role_permissions(permissions) if permissions is not None else role.permissions,
        updated_at=deps.clock.now(),
    )


def _refuse_taken_name(roles: list[Role], role: Role) -> None:
    # Read first for a clear answer; the store's unique index still decides a race.
    if any(other.id != role.id and other.name.lower() == role.name.lower() for other in roles):
        raise Conflict("a role of this organisation already has that name", code="role_name_taken")


def _preview(uow: UnitOfWork, org: Organisation, role: Role, edited: Role) -> list[AccessDiff]:
    holders: list[tuple[str, str | None]]
    if role.scope is RoleScope.ORGANISATION:
        holders = [(a.user_id, None) for a in uow.role_assignments.list_for_role(org.id, role.id)]
    else:
        holders = [
            (m.user_id, m.team_id) for m in uow.team_memberships.list_with_role(org.id, role.id)
        ]
    changes = []
    for user_id, team_id in holders:
        parts = read_member_access(uow, org, user_id)
        if parts is None:
            continue
        diff = access_diff(parts.snapshot(), parts.snapshot(replacing=edited), team_id)
        if diff.gained or diff.lost:
            changes.append(diff)
    return changes
