"""The provisioning saga, run in-process (the embedded default): each step in a transaction
of its own after the registration committed; on failure the steps done are compensated in
reverse and the organisation is marked FAILED with the step and the error.

An engine is what `Tenantry.provisioning` holds; a durable one (Temporal) keeps the same
`provision(org_id, actor)` contract.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import structlog

from tenantry.context import ServiceDeps
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.domain.principal import Principal
from tenantry.organisations import provisioning as steps_service
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

log = structlog.get_logger()


class InlineProvisioning:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, deps: ServiceDeps, steps: list[ProvisioningStep]
    ) -> None:
        self._uow_factory = uow_factory
        self._deps = deps
        self.steps = steps

    def provision(self, org_id: str, actor: Principal) -> Organisation | None:
        """Drive the steps to the end; the small transactions it opens are its own.

        An organisation no longer PROVISIONING (provisioned by an earlier run, or deleted) is
        left as it is, so a start that comes twice does the work once.
        """
        current = self._in_transaction(org_id, actor, lambda uow: uow.organisations.get(org_id))
        if current is None or current.status is not OrgStatus.PROVISIONING:
            return current
        done: list[ProvisioningStep] = []
        for step in self.steps:
            try:
                self._in_transaction(
                    org_id, actor, partial(steps_service.run_step, step=step, org_id=org_id)
                )
            except Exception as error:  # a plug-in may fail in any way; record it, never crash
                log.error("provisioning.step_failed", org_id=org_id, step=step.name, exc_info=error)
                self._compensate(org_id, actor, done)
                return self._finish(
                    org_id, actor, failed=(step.name, steps_service.public_error(error))
                )
            done.append(step)
        return self._finish(org_id, actor, failed=None)

    def close(self) -> None:
        """Nothing to let go of: the steps run in the caller's process."""

    def _compensate(self, org_id: str, actor: Principal, done: list[ProvisioningStep]) -> None:
        for step in reversed(done):
            try:
                self._in_transaction(
                    org_id, actor, partial(steps_service.compensate_step, step=step, org_id=org_id)
                )
            except Exception:  # keep compensating the others; the log names the one that failed
                log.exception("provisioning.compensation_failed", org_id=org_id, step=step.name)

    def _finish(
        self, org_id: str, actor: Principal, *, failed: tuple[str, str] | None
    ) -> Organisation:
        return self._in_transaction(
            org_id,
            actor,
            lambda uow: steps_service.finish_provisioning(uow, self._deps, actor, org_id, failed),
        )

    def _in_transaction(
        self, org_id: str, actor: Principal, use_case: Callable[[UnitOfWork], T]
    ) -> T:
        # Not `run_use_case`: a step's failure is the saga's to record (FAILED with the step).
        with self._uow_factory(org_id=org_id, user_id=actor.user_id) as uow:
            result = use_case(uow)
            uow.commit()
        return result
