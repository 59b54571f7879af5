"""The organisation life cycle: PROVISIONING -> ACTIVE, or FAILED and back by retry."""

from dataclasses import replace
from typing import Any

from tenantry.domain.errors import Conflict, NotFound
from tenantry.domain.model import Organisation, OrgStatus

_ALLOWED = {
    OrgStatus.PROVISIONING: {OrgStatus.ACTIVE, OrgStatus.FAILED, OrgStatus.DELETED},
    OrgStatus.FAILED: {OrgStatus.PROVISIONING, OrgStatus.DELETED},
    OrgStatus.ACTIVE: {OrgStatus.DELETED},
    OrgStatus.DELETED: set(),
}


def ensure_transition(org: Organisation, target: OrgStatus) -> None:
    if target not in _ALLOWED[org.status]:
        raise Conflict(
            f"organisation is {org.status}, it cannot become {target}",
            code="invalid_organisation_state",
        )


def ensure_usable(org: Organisation) -> None:
    """Everyday operations need an ACTIVE organisation; a deleted one no longer exists."""
    if org.status is OrgStatus.DELETED:
        raise NotFound("organisation not found", code="organisation_not_found")
    if org.status is not OrgStatus.ACTIVE:
        raise Conflict(f"organisation is {org.status}", code="organisation_not_active")


def revise(org: Organisation, **changes: Any) -> Organisation:
    """The organisation with `changes` applied, as its next version."""
    return replace(org, **changes, version=org.version + 1)
