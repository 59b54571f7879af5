"""Many invitations in one request: each row checked as a single invitation is, with a result
of its own; then all written in one transaction, or (all or nothing) none if any row fails;
or, as a dry run, only the results.

Rows are checked against the store as it is and against each other (an address twice in one
request is a duplicate). Every row written shares one epoch bump: the whole request is
decided on the inviter's access, as one invitation is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tenantry.access.checks import denied, require_permission
from tenantry.access.epoch import bump_epoch
from tenantry.access.events import refusals_audited
from tenantry.accounts.email_address import normalise_email
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import ActorType, AuditDraft, EventType
from tenantry.domain.errors import Conflict, Invalid, NotFound, RateLimited, TenantryError
from tenantry.domain.invitations import Invitation
from tenantry.domain.model import Organisation
from tenantry.domain.principal import Principal
from tenantry.invitations.service import (
    INVITATION,
    Binding,
    check_invitee,
    limit_sends,
    send_invitation,
    within_daily_cap,
)
from tenantry.unit_of_work import UnitOfWork


class RowStatus(StrEnum):
    CREATED = "created"  # written (or, in a dry run or a refused all-or-nothing, would be)
    DUPLICATE = "duplicate"  # a pending invitation exists, or the address is in the request twice
    ALREADY_MEMBER = "already_member"
    INVALID = "invalid"  # the address or binding is not valid
    REFUSED = "refused"  # the inviter may not bind this, or the address's mail cap is reached


@dataclass(frozen=True, slots=True)
class BulkRow:
    email: str
    binding: Binding = field(default_factory=Binding)


@dataclass(frozen=True, slots=True)
class RowResult:
    row: int  # 0-based, in the request's order
    email: str
    status: RowStatus
    code: str | None = None
    detail: str | None = None
    invitation: Invitation | None = None


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    rows: list[RowResult]
    written: bool
    epoch: int


@dataclass(frozen=True, slots=True)
class _Checked:
    result: RowResult
    replacing: Invitation | None = None
    binding: Binding = field(default_factory=Binding)


@refusals_audited("invitation.bulk", INVITATION, EventType.INVITATION)
def bulk_invite(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    rows: list[BulkRow],
    all_or_nothing: bool,
    dry_run: bool,
) -> BulkOutcome:
    _check_size(rows, deps.policy.invitation_bulk_max)
    org, access = require_permission(
        uow, principal, org_id, "invitation:create", resource_type=INVITATION, resource_id=org_id
    )
    now = deps.clock.now()
    checked = _checked_rows(uow, deps, principal, access, rows, now)
    failed = any(c.result.status is not RowStatus.CREATED for c in checked)
    if dry_run or (all_or_nothing and failed):
        return BulkOutcome([c.result for c in checked], written=False, epoch=access.epoch)
    wanted = [c for c in checked if c.result.status is RowStatus.CREATED]
    within_daily_cap(uow, deps, org_id, len(wanted), now)
    epoch = bump_epoch(uow, access) if wanted else access.epoch
    results = {c.result.row: c.result for c in checked}
    for row in wanted:
        results[row.result.row] = _written(
            uow, deps, org, principal, row, now, epoch, all_or_nothing
        )
    written = bool(wanted)  # best effort with no row to write writes nothing
    return BulkOutcome([results[n] for n in sorted(results)], written=written, epoch=epoch)


def _check_size(rows: list[BulkRow], most: int) -> None:
    if not rows:
        raise Invalid("send at least one invitation", code="no_rows")
    if len(rows) > most:
        raise Invalid(f"at most {most} invitations a request", code="too_many_rows")


def _checked_rows(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    access: AccessSnapshot,
    rows: list[BulkRow],
    now: datetime,
) -> list[_Checked]:
    seen: set[str] = set()
    checked = []
    for number, row in enumerate(rows):
        try:
            email, replacing = check_invitee(
                uow, deps, principal, access, row.email, row.binding, now
            )
            if email in seen:
                raise Conflict("the address is in the request twice", code="duplicate_row")
        except TenantryError as error:
            checked.append(_Checked(_failed(number, _as_shown(row.email), error)))
            refusal = error.audit or _not_found_row(principal, access.org_id, number, error)
            if refusal is not None:  # an escalation, or a team or role that is not there
                uow.audit.append(refusal, at=now)
            continue
        seen.add(email)
        result = RowResult(number, email, RowStatus.CREATED)
        checked.append(_Checked(result, replacing, row.binding))
    return checked


def _not_found_row(
    principal: Principal, org_id: str, number: int, error: TenantryError
) -> AuditDraft | None:
    """A row naming a team or role the organisation does not have (perhaps another
    tenant's) is on record, as a single invitation's 404 is; a duplicate or a bad address
    is the sender's mistake, answered in the row alone."""
    if not isinstance(error, NotFound):
        return None
    scope = org_id if principal.actor_type is ActorType.SYSTEM else principal.org_id
    return denied(
        principal, scope, "invitation:create", INVITATION, org_id, error.code, {"row": number}
    )


def _written(
    uow: UnitOfWork,
    deps: ServiceDeps,
    org: Organisation,
    principal: Principal,
    row: _Checked,
    now: datetime,
    epoch: int,
    all_or_nothing: bool,
) -> RowResult:
    email = row.result.email
    try:
        limit_sends(deps, email)
    except RateLimited as error:
        if all_or_nothing:
            raise
        return _failed(row.result.row, email, error)
    invitation = send_invitation(
        uow, deps, org, principal, email, row.binding, now=now, epoch=epoch, replacing=row.replacing
    )
    return RowResult(row.result.row, email, RowStatus.CREATED, invitation=invitation)


def _as_shown(email: str) -> str:
    """The address normalised, or as given when it is none."""
    try:
        return normalise_email(email)
    except Invalid:
        return email


_STATUS_OF_CODE = {
    "invitation_pending": RowStatus.DUPLICATE,
    "duplicate_row": RowStatus.DUPLICATE,
    "already_member": RowStatus.ALREADY_MEMBER,
}


def _failed(number: int, email: str, error: TenantryError) -> RowResult:
    status = _STATUS_OF_CODE.get(error.code)
    if status is None:
        status = RowStatus.INVALID if isinstance(error, Invalid) else RowStatus.REFUSED
    return RowResult(number, email, status, error.code, error.detail)
