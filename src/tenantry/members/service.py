"""Members of an organisation: change a member's organisation role, remove a member, leave,
transfer ownership, and read a member's effective permissions.

The rules, beyond holding the permission: nobody changes their own organisation role; only
an OWNER makes, demotes or removes an OWNER; nobody acts on a member ranked above them; and
the last OWNER can neither leave, be demoted nor be removed. Each change bumps the
organisation's authz epoch (`access.epoch`), so two changes decided on the same reads never
both commit: two OWNERs demoting each other at once end with exactly one demoted.
"""

from __future__ import annotations

from dataclasses import replace

from tenantry.access.checks import (
    caller_access,
    denied,
    load_access,
    member_or_raise,
    permission_denied,
    refuse_self,
    require_holding,
    require_permission,
)
from tenantry.access.epoch import Changed, bump_epoch, refuse_only_if_current
from tenantry.access.events import access_event, refusals_audited
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import EventType
from tenantry.domain.errors import Conflict, Forbidden, Invalid
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.principal import Principal
from tenantry.domain.roles import ORG_ROLE_PERMISSIONS, OrgRole
from tenantry.unit_of_work import UnitOfWork

MEMBER = "member"


@refusals_audited("member.role_change", MEMBER, EventType.USER_MANAGEMENT)
def change_org_role(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    user_id: str,
    org_role: OrgRole,
) -> Changed[Membership]:
    _, access = require_permission(
        uow, principal, org_id, "member:update", resource_type=MEMBER, resource_id=user_id
    )
    refuse_self(
        principal, user_id, org_id=org_id, action="member.role_change", resource_type=MEMBER
    )
    member = member_or_raise(uow, org_id, user_id)
    _require_rank(principal, access, member, org_role, action="member.role_change")
    require_holding(
        principal,
        access,
        ORG_ROLE_PERMISSIONS[org_role],
        action="member.role_change",
        resource_type=MEMBER,
        resource_id=user_id,
    )
    if member.org_role is org_role:
        return Changed(member, access.epoch)
    if member.org_role is OrgRole.OWNER:
        _refuse_last_owner(uow, principal, access, user_id, action="member.role_change")
    changed = replace(member, org_role=org_role)
    epoch = bump_epoch(uow, access)
    uow.memberships.update(changed)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.USER_MANAGEMENT,
            "member.role_change",
            resource_type=MEMBER,
            resource_id=user_id,
            epoch=epoch,
            before={"org_role": member.org_role.value},
            after={"org_role": org_role.value},
        ),
        at=deps.clock.now(),
    )
    return Changed(changed, epoch)


@refusals_audited("member.remove", MEMBER, EventType.USER_MANAGEMENT)
def remove_member(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, user_id: str
) -> Changed[Membership]:
    """End a membership; the caller's own is leaving (no permission needed). Its role
    assignments and team memberships end in the same transaction."""
    leaving = principal.user_id == user_id
    action = "member.leave" if leaving else "member.remove"
    _, access = caller_access(
        uow, principal, org_id, action="member:remove", resource_type=MEMBER, resource_id=user_id
    )
    if not leaving and access.grant_for("member:remove") is None:
        raise permission_denied(principal, org_id, "member:remove", MEMBER, user_id)
    member = member_or_raise(uow, org_id, user_id)
    if not leaving:
        _require_rank(principal, access, member, member.org_role, action=action)
    if member.org_role is OrgRole.OWNER:
        _refuse_last_owner(uow, principal, access, user_id, action=action)
    now = deps.clock.now()
    ended = replace(member, status=MembershipStatus.ENDED, ended_at=now)
    epoch = bump_epoch(uow, access)
    uow.memberships.update(ended)
    role_ids = end_member_access(uow, org_id, user_id)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.USER_MANAGEMENT,
            action,
            resource_type=MEMBER,
            resource_id=user_id,
            epoch=epoch,
            before={"org_role": member.org_role.value, "status": member.status.value, **role_ids},
            after={"status": ended.status.value},
        ),
        at=now,
    )
    return Changed(ended, epoch)


def end_member_access(uow: UnitOfWork, org_id: str, user_id: str) -> dict[str, list[str]]:
    """Remove the member's role assignments and team memberships (each team's count with
    it); what was removed, for the audit event."""
    assignments = uow.role_assignments.list_for_member(org_id, user_id)
    for assignment in assignments:
        uow.role_assignments.remove(org_id, user_id, assignment.role_id)
    teams = uow.team_memberships.list_for_user(org_id, user_id)
    for team in teams:
        uow.team_memberships.remove(org_id, team.team_id, user_id)
        uow.teams.add_to_member_count(org_id, team.team_id, -1)
    return {"role_ids": [a.role_id for a in assignments], "team_ids": [t.team_id for t in teams]}


@refusals_audited("organisation.transfer", MEMBER, EventType.USER_MANAGEMENT)
def transfer_ownership(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, user_id: str
) -> Changed[Membership]:
    """The member becomes OWNER and the calling OWNER becomes ADMIN, in one transaction."""
    _, access = require_permission(
        uow,
        principal,
        org_id,
        "organisation:transfer",
        resource_type="organisation",
        resource_id=org_id,
    )
    if user_id == principal.user_id:
        raise Invalid("ownership is transferred to another member", code="cannot_transfer_to_self")
    caller = member_or_raise(uow, org_id, principal.user_id)
    target = member_or_raise(uow, org_id, user_id)
    if caller.org_role is not OrgRole.OWNER:
        raise _owner_required(principal, org_id, user_id, "organisation.transfer")
    new_owner = replace(target, org_role=OrgRole.OWNER)
    former_owner = replace(caller, org_role=OrgRole.ADMIN)
    epoch = bump_epoch(uow, access)
    uow.memberships.update(new_owner)
    uow.memberships.update(former_owner)
    uow.audit.append(
        access_event(
            principal,
            org_id,
            EventType.USER_MANAGEMENT,
            "organisation.transfer",
            resource_type="organisation",
            resource_id=org_id,
            epoch=epoch,
            before={"owner": caller.user_id, "new_owner_role": target.org_role.value},
            after={"owner": user_id, "former_owner_role": OrgRole.ADMIN.value},
        ),
        at=deps.clock.now(),
    )
    return Changed(new_owner, epoch)


@refusals_audited("member:read", MEMBER, EventType.USER_MANAGEMENT)
def effective_permissions(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, user_id: str
) -> AccessSnapshot:
    """A member's effective permissions with the grant path of each; a member may always ask
    about themselves, anyone else needs `member:read`."""
    org, access = caller_access(
        uow, principal, org_id, action="member:read", resource_type=MEMBER, resource_id=user_id
    )
    if user_id == principal.user_id:
        return access
    if access.grant_for("member:read") is None:
        raise permission_denied(principal, org_id, "member:read", MEMBER, user_id)
    member_or_raise(uow, org_id, user_id)
    snapshot = load_access(uow, org, user_id)
    if snapshot is None:  # the membership is ACTIVE (just read): only a race gets here
        raise Conflict("the membership changed meanwhile", code="membership_changed")
    return snapshot


def _require_rank(
    principal: Principal,
    access: AccessSnapshot,
    member: Membership,
    org_role: OrgRole,
    *,
    action: str,
) -> None:
    """Only an OWNER makes, demotes or removes an OWNER; nobody acts on a member ranked above
    them or raises one above themselves. The operator (CLI) is above every rank."""
    if access.org_role is None:
        return
    if OrgRole.OWNER in (member.org_role, org_role) and access.org_role is not OrgRole.OWNER:
        raise _owner_required(principal, member.org_id, member.user_id, action)
    if max(member.org_role.rank, org_role.rank) > access.org_role.rank:
        raise Forbidden(
            "you cannot act on a member ranked above you",
            code="rank_exceeded",
            audit=denied(principal, member.org_id, action, MEMBER, member.user_id, "rank_exceeded"),
        )


def _owner_required(principal: Principal, org_id: str, user_id: str, action: str) -> Forbidden:
    return Forbidden(
        "only an OWNER makes, demotes, removes or hands over an OWNER",
        code="owner_required",
        audit=denied(principal, org_id, action, MEMBER, user_id, "owner_required"),
    )


def _refuse_last_owner(
    uow: UnitOfWork, principal: Principal, access: AccessSnapshot, user_id: str, *, action: str
) -> None:
    org_id = access.org_id
    owners = uow.memberships.list_with_role(org_id, OrgRole.OWNER)
    if [m.user_id for m in owners] == [user_id]:
        refuse_only_if_current(uow, access)
        raise Conflict(
            "the organisation's last OWNER cannot leave, be demoted or be removed",
            code="last_owner",
            audit=denied(
                principal,
                org_id,
                action,
                MEMBER,
                user_id,
                "last_owner",
                event_type=EventType.USER_MANAGEMENT,
            ),
        )
