"""Whether a user still has standing in an organisation: what the bearer check and token
issuance ask. Permission checks are in `tenantry.access.checks`."""

from __future__ import annotations

from tenantry.domain.model import Membership, MembershipStatus, OrgStatus
from tenantry.domain.principal import Standing
from tenantry.unit_of_work import UnitOfWork


def membership_check(
    uow: UnitOfWork, user_id: str, org_id: str
) -> tuple[Standing | None, str | None]:
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
    return Standing(org, membership), None


def active_membership(uow: UnitOfWork, user_id: str, org_id: str) -> Membership | None:
    """Tokens for an organisation go only to its active members, never for a deleted one."""
    standing = membership_check(uow, user_id, org_id)[0]
    return standing.membership if standing is not None else None
