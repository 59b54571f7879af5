"""Provisioning's use cases: the visible state machine that turns a registered organisation
ACTIVE. Steps are pluggable (`TENANTRY_PROVISIONING_STEPS`); the saga that drives them, one
transaction a step, is `tenantry.flows.provisioning`. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from tenantry.access.checks import require_permission
from tenantry.context import ServiceDeps
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.domain.organisations import (
    change_status,
    ensure_retryable,
    ensure_transition,
    provisioning_job,
    revise,
)
from tenantry.domain.principal import Principal
from tenantry.organisations.service import live_organisation_or_raise, organisation_event
from tenantry.unit_of_work import UnitOfWork


class ProvisioningStep(Protocol):
    name: str

    def run(self, uow: UnitOfWork, org: Organisation) -> None: ...
    def compensate(self, uow: UnitOfWork, org: Organisation) -> None: ...


def begin_workflow_run(
    uow: UnitOfWork, org_id: str, workflow_id: str | None, run_id: str | None
) -> bool:
    """Whether a workflow run has anything to do (the organisation is still PROVISIONING);
    if so the organisation records the run, for its readers and operators to follow."""
    org = uow.organisations.get(org_id)
    if org is None or org.status is not OrgStatus.PROVISIONING:
        return False
    if (org.provisioning_workflow_id, org.provisioning_run_id) != (workflow_id, run_id):
        recorded = revise(org, provisioning_workflow_id=workflow_id, provisioning_run_id=run_id)
        uow.organisations.update(recorded, expected_version=org.version)
    return True


def run_step(uow: UnitOfWork, step: ProvisioningStep, org_id: str) -> None:
    org = live_organisation_or_raise(uow, org_id)
    ensure_transition(org, OrgStatus.ACTIVE)
    step.run(uow, org)


def compensate_step(uow: UnitOfWork, step: ProvisioningStep, org_id: str) -> None:
    step.compensate(uow, live_organisation_or_raise(uow, org_id))


def finish_provisioning(
    uow: UnitOfWork,
    deps: ServiceDeps,
    actor: Principal,
    org_id: str,
    failed: tuple[str, str] | None,
) -> Organisation:
    """ACTIVE when every step ran, else FAILED naming the step and the error as members may
    read it (`public_error`)."""
    now = deps.clock.now()
    org = live_organisation_or_raise(uow, org_id)
    if failed is None:
        final = change_status(org, OrgStatus.ACTIVE, at=now)
        event = organisation_event(actor, org_id, "organisation.provisioned")
    else:
        step, message = failed
        final = change_status(
            org, OrgStatus.FAILED, at=now, provisioning_step=step, provisioning_error=message
        )
        event = organisation_event(
            actor,
            org_id,
            "organisation.provisioned",
            {"step": step, "error": message},
            outcome=Outcome.FAILURE,
            reason=step,
        )
    uow.organisations.update(final, expected_version=org.version)
    # A status change alters every decision in the organisation: it is an access change too.
    uow.organisations.bump_authz_epoch(org_id, expected=org.authz_epoch)
    uow.audit.append(event, at=now)
    return replace(final, authz_epoch=org.authz_epoch + 1)


def retry_provisioning(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str
) -> Organisation:
    org, _ = require_permission(
        uow,
        principal,
        org_id,
        "organisation:update",
        resource_type="organisation",
        resource_id=org_id,
    )
    now = deps.clock.now()
    ensure_retryable(org, now)
    restarted = revise(
        org,
        status=OrgStatus.PROVISIONING,
        status_changed_at=now,
        provisioning_step=None,
        provisioning_error=None,
        provisioning_workflow_id=None,  # the new run records its own
        provisioning_run_id=None,
    )
    uow.organisations.update(restarted, expected_version=org.version)
    uow.jobs.add(provisioning_job(restarted, principal.user_id, now))
    event = organisation_event(principal, org_id, "organisation.provisioning_retry")
    uow.audit.append(event, at=now)
    return restarted


def public_error(error: Exception) -> str:
    """What members may read about a failed step: a step's own `TenantryError` speaks for
    itself; anything else is named by type only, since its text may hold hosts or secrets."""
    if isinstance(error, TenantryError):
        return f"{error.code}: {error.detail}"[:1000]
    return f"{type(error).__name__} (details are in the service log)"
