"""Provisioning: the visible state machine that turns a registered organisation ACTIVE.

Steps are pluggable (`TENANTRY_PROVISIONING_STEPS`) and run in-process, each in its own
transaction, after the registration has committed. When a step fails, the steps already
done are compensated in reverse order and the organisation is marked FAILED with the step
and the error; `retry_provisioning` starts again from the first step.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from tenantry.context import ServiceDeps
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.domain.organisations import (
    change_status,
    ensure_retryable,
    ensure_transition,
    revise,
)
from tenantry.domain.principal import Principal
from tenantry.organisations.access import require_permission
from tenantry.organisations.service import live_organisation_or_raise, organisation_event
from tenantry.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger()


class ProvisioningStep(Protocol):
    name: str

    def run(self, uow: UnitOfWork, org: Organisation) -> None: ...
    def compensate(self, uow: UnitOfWork, org: Organisation) -> None: ...


def provision_organisation(
    uow_factory: UnitOfWorkFactory,
    deps: ServiceDeps,
    actor: Principal,
    org_id: str,
    steps: list[ProvisioningStep],
) -> Organisation:
    """Drive the steps; this function owns the small transactions it opens."""
    done: list[ProvisioningStep] = []
    for step in steps:
        try:
            with uow_factory(org_id=org_id, user_id=actor.user_id) as uow:
                step.run(uow, _provisioning_org(uow, org_id))
                uow.commit()
        except Exception as error:  # a plug-in may fail in any way; record it, never crash
            log.error("provisioning.step_failed", org_id=org_id, step=step.name, exc_info=error)
            _compensate(uow_factory, actor, org_id, done)
            return _finish(uow_factory, deps, actor, org_id, failed=(step.name, error))
        done.append(step)
    return _finish(uow_factory, deps, actor, org_id, failed=None)


def retry_provisioning(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str
) -> Organisation:
    require_permission(
        principal, org_id, "organisation:update", resource_type="organisation", resource_id=org_id
    )
    org = live_organisation_or_raise(uow, org_id)
    now = deps.clock.now()
    ensure_retryable(org, now)
    restarted = revise(
        org,
        status=OrgStatus.PROVISIONING,
        status_changed_at=now,
        provisioning_step=None,
        provisioning_error=None,
    )
    uow.organisations.update(restarted, expected_version=org.version)
    event = organisation_event(principal, org_id, "organisation.provisioning_retry")
    uow.audit.append(event, at=now)
    return restarted


def public_error(error: Exception) -> str:
    """What members may read about a failed step: a step's own `TenantryError` speaks for
    itself; anything else is named by type only, since its text may hold hosts or secrets."""
    if isinstance(error, TenantryError):
        return f"{error.code}: {error.detail}"[:1000]
    return f"{type(error).__name__} (details are in the service log)"


def _compensate(
    uow_factory: UnitOfWorkFactory, actor: Principal, org_id: str, done: list[ProvisioningStep]
) -> None:
    for step in reversed(done):
        try:
            with uow_factory(org_id=org_id, user_id=actor.user_id) as uow:
                step.compensate(uow, live_organisation_or_raise(uow, org_id))
                uow.commit()
        except Exception:  # keep compensating the others; the log names the one that failed
            log.exception("provisioning.compensation_failed", org_id=org_id, step=step.name)


def _finish(
    uow_factory: UnitOfWorkFactory,
    deps: ServiceDeps,
    actor: Principal,
    org_id: str,
    *,
    failed: tuple[str, Exception] | None,
) -> Organisation:
    now = deps.clock.now()
    with uow_factory(org_id=org_id, user_id=actor.user_id) as uow:
        org = live_organisation_or_raise(uow, org_id)
        if failed is None:
            final = change_status(org, OrgStatus.ACTIVE, at=now)
            event = organisation_event(actor, org_id, "organisation.provisioned")
        else:
            step, error = failed
            message = public_error(error)
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
        uow.audit.append(event, at=now)
        uow.commit()
    return final


def _provisioning_org(uow: UnitOfWork, org_id: str) -> Organisation:
    org = live_organisation_or_raise(uow, org_id)
    ensure_transition(org, OrgStatus.ACTIVE)
    return org
