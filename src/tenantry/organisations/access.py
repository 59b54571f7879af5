"""Org-scoped access checks, shared by every use case on an organisation's resources.

Order matters: a caller asking about another organisation learns nothing (404, the same as
for an id that does not exist); only inside their own organisation may they learn that they
lack a permission (403). Both refusals are audited in the caller's organisation.
"""

from __future__ import annotations

from tenantry.domain.audit import AuditDraft, EventType, Outcome
from tenantry.domain.errors import Forbidden, NotFound
from tenantry.domain.model import Membership, MembershipStatus, OrgStatus
from tenantry.domain.principal import Principal
from tenantry.unit_of_work import UnitOfWork


def require_permission(
    principal: Principal, org_id: str, permission: str, *, resource_type: str, resource_id: str
) -> str:
    """Return the grant that allows `permission` in `org_id`, or raise an audited refusal."""
    if principal.org_id is None or principal.org_id != org_id:
        raise NotFound(
            "organisation not found",
            code="organisation_not_found",
            audit=_denied(principal, permission, resource_type, resource_id, "other_organisation"),
        )
    grant = principal.grant_for(permission)
    if grant is None:
        raise Forbidden(
            f"missing permission {permission}",
            code="permission_denied",
            audit=_denied(principal, permission, resource_type, resource_id, "missing_permission"),
            extra={"permission": permission},
        )
    return grant


def _denied(
    principal: Principal, permission: str, resource_type: str, resource_id: str, reason: str
) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.AUTHORIZATION,
        action=permission,
        outcome=Outcome.DENIED,
        org_id=principal.org_id,
        actor_id=principal.user_id,
        actor_type=principal.actor_type,
        resource_type=resource_type,
        resource_id=resource_id,
        reason=reason,
    )


def membership_check(
    uow: UnitOfWork, user_id: str, org_id: str
) -> tuple[Membership | None, str | None]:
    """The user's live membership of a live organisation, or None and why not.

    Binds the unit of work to that organisation and user (row-level security) to read them.
    """
    uow.bind(org_id=org_id, user_id=user_id)
    org = uow.organisations.get(org_id)
    if org is None or org.status is OrgStatus.DELETED:
        return None, "organisation_deleted"
    membership = uow.memberships.get(org_id, user_id)
    if membership is None or membership.status is not MembershipStatus.ACTIVE:
        return None, "membership_ended"
    return membership, None


def active_membership(uow: UnitOfWork, user_id: str, org_id: str) -> Membership | None:
    """Tokens for an organisation go only to its active members, never for a deleted one."""
    return membership_check(uow, user_id, org_id)[0]
