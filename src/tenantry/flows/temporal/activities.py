"""The provisioning workflow's activities: each one tenantry use case in a transaction of its
own, through the same services the inline engine calls. They run in the worker's thread pool
(they are synchronous, like the store)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tenantry.context import ServiceDeps
from tenantry.domain.errors import TenantryError
from tenantry.domain.principal import SYSTEM
from tenantry.flows.jobs import actor_of
from tenantry.flows.temporal.workflow import (
    BEGIN,
    COMPENSATE_STEP,
    FINISH,
    RUN_STEP,
    FinishRequest,
    StepRequest,
)
from tenantry.organisations import provisioning as steps_service
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

log = structlog.get_logger()


class ProvisioningActivities:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, deps: ServiceDeps, steps: list[ProvisioningStep]
    ) -> None:
        self._uow_factory = uow_factory
        self._deps = deps
        self._steps = {step.name: step for step in steps}

    def all(self) -> list[Callable[..., object]]:
        return [self.begin, self.run_step, self.compensate_step, self.finish]

    @activity.defn(name=BEGIN)
    def begin(self, org_id: str) -> bool:
        """Whether there is anything to do (the organisation is still PROVISIONING); if so,
        the organisation records this workflow run."""
        info = activity.info()
        begin = partial(
            steps_service.begin_workflow_run,
            org_id=org_id,
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
        )
        return self._in_transaction(org_id, None, begin)

    @activity.defn(name=RUN_STEP)
    def run_step(self, request: StepRequest) -> None:
        step = self._step(request.step)
        run = partial(steps_service.run_step, step=step, org_id=request.org_id)
        try:
            self._in_transaction(request.org_id, request.actor_id, run)
        except Exception as error:  # a plug-in may fail in any way: Temporal retries it
            log.error(
                "provisioning.step_failed", org_id=request.org_id, step=step.name, exc_info=error
            )
            raise ApplicationError(
                steps_service.public_error(error),
                type=type(error).__name__,
                # tenantry's own refusal (the organisation was deleted meanwhile) stays one.
                non_retryable=isinstance(error, TenantryError),
            ) from None

    @activity.defn(name=COMPENSATE_STEP)
    def compensate_step(self, request: StepRequest) -> None:
        step = self._step(request.step)
        undo = partial(steps_service.compensate_step, step=step, org_id=request.org_id)
        try:
            self._in_transaction(request.org_id, request.actor_id, undo)
        except Exception:  # keep compensating the others; the log names the one that failed
            log.exception("provisioning.compensation_failed", org_id=request.org_id, step=step.name)

    @activity.defn(name=FINISH)
    def finish(self, request: FinishRequest) -> None:
        failed = None
        if request.failed_step is not None:
            failed = (request.failed_step, request.error or "")
        actor = actor_of(request.actor_id)
        self._in_transaction(
            request.org_id,
            request.actor_id,
            lambda uow: steps_service.finish_provisioning(
                uow, self._deps, actor, request.org_id, failed
            ),
        )

    def _step(self, name: str) -> ProvisioningStep:
        step = self._steps.get(name)
        if step is None:
            # Configured where the workflow started but not in this worker: a deployment error
            # that a retry will not mend until the worker is configured alike.
            raise ApplicationError(
                f"step {name!r} is not in this worker's TENANTRY_PROVISIONING_STEPS",
                type="UnknownStep",
            )
        return step

    def _in_transaction(
        self, org_id: str, actor_id: str | None, use_case: Callable[[UnitOfWork], T]
    ) -> T:
        with self._uow_factory(org_id=org_id, user_id=actor_id or SYSTEM.user_id) as uow:
            result = use_case(uow)
            uow.commit()
        return result
