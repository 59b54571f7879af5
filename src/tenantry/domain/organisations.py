"""The organisation life cycle: PROVISIONING -> ACTIVE, or FAILED and back by retry."""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tenantry.domain.errors import Conflict, NotFound
from tenantry.domain.model import Job, Organisation, OrgStatus

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


# A provisioning run not finished after this long is presumed dead (its process stopped
# between registration and the last step), so it may be started again.
PROVISIONING_LEASE = timedelta(minutes=10)


def ensure_retryable(org: Organisation, now: datetime) -> None:
    if org.status is OrgStatus.FAILED:
        return
    if org.status is OrgStatus.PROVISIONING:
        started = org.status_changed_at
        if started is not None and now - started >= PROVISIONING_LEASE:
            return
        raise Conflict(
            "provisioning is still running; retry once it failed or stalled",
            code="provisioning_in_progress",
        )
    ensure_transition(org, OrgStatus.PROVISIONING)


def ensure_usable(org: Organisation) -> None:
    """Everyday operations need an ACTIVE organisation; a deleted one no longer exists."""
    if org.status is OrgStatus.DELETED:
        raise NotFound("organisation not found", code="organisation_not_found")
    if org.status is not OrgStatus.ACTIVE:
        raise Conflict(f"organisation is {org.status}", code="organisation_not_active")


def revise(org: Organisation, **changes: Any) -> Organisation:
    """The organisation with `changes` applied, as its next version."""
    return replace(org, **changes, version=org.version + 1)


def change_status(
    org: Organisation, target: OrgStatus, *, at: datetime, **changes: Any
) -> Organisation:
    """The next version of the organisation in status `target`, if the life cycle allows it."""
    ensure_transition(org, target)
    return revise(org, status=target, status_changed_at=at, **changes)


PROVISION_JOB = "provision_organisation"
# The process that registers (or retries) starts provisioning at once; a relay takes the job
# only if it is still pending this long after, i.e. that process died before starting it.
PROVISIONING_START_GRACE = timedelta(minutes=1)


def provisioning_job(org: Organisation, actor_id: str, now: datetime) -> Job:
    """The job that provisions `org` as it is now; one per registration or retry (its id names
    the organisation's version), so asking twice is one job."""
    return Job(
        id=provisioning_job_id(org),
        kind=PROVISION_JOB,
        subject_id=org.id,
        actor_id=actor_id,
        created_at=now,
        next_attempt_at=now + PROVISIONING_START_GRACE,
    )


def provisioning_job_id(org: Organisation) -> str:
    return f"provision:{org.id}:{org.version}"
