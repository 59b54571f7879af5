"""Org-scoped access checks, shared by every use case on an organisation's resources.

Order matters: a caller asking about another organisation learns nothing (404, the same as
for an id that does not exist); only inside their own organisation may they learn that they
lack a permission (403). Both refusals are audited in the caller's organisation.

Every check answers from the caller's `AccessSnapshot`, read in the use case's own unit of
work; the `org_role` claim of a token is never consulted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tenantry.domain.access import AccessSnapshot, build_snapshot
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Forbidden, NotFound
from tenantry.domain.model import Membership, MembershipStatus, Organisation, OrgStatus
from tenantry.domain.principal import Principal
from tenantry.domain.roles import Role, RoleAssignment, is_custom_role_id
from tenantry.domain.teams import TeamMembership
from tenantry.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class MemberAccess:
    """What a member's snapshot is built from, as read from the store."""

    org: Organisation
    membership: Membership
    assignments: list[RoleAssignment]
    team_memberships: list[TeamMembership]
    roles: dict[str, Role]

    def snapshot(self, *, replacing: Role | None = None) -> AccessSnapshot:
        """The snapshot; with `replacing`, as if that role (same id) were saved as given."""
        roles = self.roles if replacing is None else {**self.roles, replacing.id: replacing}
        return build_snapshot(
            org_id=self.org.id,
            user_id=self.membership.user_id,
            org_role=self.membership.org_role,
            epoch=self.org.authz_epoch,
            roles=roles,
            assignments=self.assignments,
            team_memberships=self.team_memberships,
        )


def read_member_access(
    uow: UnitOfWork, org: Organisation, user_id: str, *, membership: Membership | None = None
) -> MemberAccess | None:
    """What `user_id`'s snapshot in `org` is built from, or None if they are not an active
    member of it (or it is deleted).

    `org` must be the first read of the unit of work's access reads: its `authz_epoch` is
    what a change decided from this snapshot expects at commit, so anything committed after
    that read makes the change's epoch precondition fail.
    """
    if org.status is OrgStatus.DELETED:
        return None
    if membership is None:  # not already read in this unit of work (by the bearer check)
        membership = uow.memberships.get(org.id, user_id)
    if membership is None or membership.status is not MembershipStatus.ACTIVE:
        return None
    assignments = uow.role_assignments.list_for_member(org.id, user_id)
    teams = uow.team_memberships.list_for_user(org.id, user_id)
    role_ids = {a.role_id for a in assignments}
    role_ids.update(t.team_role for t in teams if is_custom_role_id(t.team_role))
    roles = uow.roles.get_many(org.id, sorted(role_ids)) if role_ids else []
    return MemberAccess(org, membership, assignments, teams, {role.id: role for role in roles})


def load_access(uow: UnitOfWork, org: Organisation, user_id: str) -> AccessSnapshot | None:
    """`user_id`'s snapshot in `org` (see `read_member_access`), or None."""
    parts = read_member_access(uow, org, user_id)
    return parts.snapshot() if parts is not None else None


def caller_access(
    uow: UnitOfWork,
    principal: Principal,
    org_id: str,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
) -> tuple[Organisation, AccessSnapshot]:
    """The organisation and the caller's snapshot in it, or an audited 404 when the caller
    has no standing there (another organisation's token, an ended membership)."""
    if principal.actor_type is not ActorType.SYSTEM and principal.org_id != org_id:
        raise _not_found(principal, action, resource_type, resource_id, "other_organisation")
    uow.bind(org_id=org_id, user_id=principal.user_id)
    standing = principal.standing
    org = standing.org if standing is not None else uow.organisations.get(org_id)
    if org is None or org.status is OrgStatus.DELETED:
        raise _not_found(principal, action, resource_type, resource_id, "organisation_deleted")
    if principal.actor_type is ActorType.SYSTEM:
        return org, AccessSnapshot.operator(org_id, org.authz_epoch)
    membership = standing.membership if standing is not None else None
    parts = read_member_access(uow, org, principal.user_id, membership=membership)
    access = parts.snapshot() if parts is not None else None
    if access is None:
        raise _not_found(principal, action, resource_type, resource_id, "membership_ended")
    return org, access


def require_permission(
    uow: UnitOfWork,
    principal: Principal,
    org_id: str,
    permission: str,
    *,
    resource_type: str,
    resource_id: str,
    team_id: str | None = None,
) -> tuple[Organisation, AccessSnapshot]:
    """The organisation and the caller's snapshot, if the caller holds `permission` there
    (within `team_id`, when named); else an audited refusal."""
    org, access = caller_access(
        uow,
        principal,
        org_id,
        action=permission,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    if access.grant_for(permission, team_id) is None:
        raise permission_denied(principal, org_id, permission, resource_type, resource_id)
    return org, access


def require_holding(
    principal: Principal,
    access: AccessSnapshot,
    patterns: Iterable[str],
    *,
    action: str,
    resource_type: str,
    resource_id: str,
    team_id: str | None = None,
) -> None:
    """No escalation: the caller may only hand out what they hold themselves (wildcards
    compared by the grammar), else 403 `permission_escalation` naming what they lack."""
    missing = access.missing(patterns, team_id)
    if missing:
        raise Forbidden(
            f"you cannot grant what you do not hold: {', '.join(missing)}",
            code="permission_escalation",
            audit=denied(
                principal,
                access.org_id,
                action,
                resource_type,
                resource_id,
                "permission_escalation",
                {"missing": missing},
            ),
            extra={"missing": missing},
        )


def permission_denied(
    principal: Principal, org_id: str, permission: str, resource_type: str, resource_id: str
) -> Forbidden:
    return Forbidden(
        f"missing permission {permission}",
        code="permission_denied",
        audit=denied(
            principal, org_id, permission, resource_type, resource_id, "missing_permission"
        ),
        extra={"permission": permission},
    )


def denied(
    principal: Principal,
    org_id: str | None,
    action: str,
    resource_type: str,
    resource_id: str,
    reason: str,
    details: dict[str, object] | None = None,
    *,
    event_type: EventType = EventType.AUTHORIZATION,
    outcome: Outcome = Outcome.DENIED,
) -> AuditDraft:
    """The event of a refusal, on record in `org_id`."""
    return AuditDraft(
        event_type=event_type,
        action=action,
        outcome=outcome,
        org_id=org_id,
        actor_id=principal.user_id,
        actor_type=principal.actor_type,
        resource_type=resource_type,
        resource_id=resource_id,
        reason=reason,
        details=dict(details or {}),
    )


def _not_found(
    principal: Principal, action: str, resource_type: str, resource_id: str, reason: str
) -> NotFound:
    # Recorded in the caller's own organisation, never in the one asked about.
    return NotFound(
        "organisation not found",
        code="organisation_not_found",
        audit=denied(principal, principal.org_id, action, resource_type, resource_id, reason),
    )


def member_or_raise(uow: UnitOfWork, org_id: str, user_id: str) -> Membership:
    """An ACTIVE member of the organisation, else 404 `member_not_found` (a user of another
    organisation, or none, reads the same)."""
    membership = uow.memberships.get(org_id, user_id)
    if membership is None or membership.status is not MembershipStatus.ACTIVE:
        raise NotFound("no such member of this organisation", code="member_not_found")
    return membership


def refuse_self(
    principal: Principal, user_id: str, *, org_id: str, action: str, resource_type: str
) -> None:
    """Nobody changes their own roles: 403 `cannot_change_own_role`, audited."""
    if principal.user_id == user_id:
        raise Forbidden(
            "you cannot change your own roles",
            code="cannot_change_own_role",
            audit=denied(
                principal, org_id, action, resource_type, user_id, "cannot_change_own_role"
            ),
        )
