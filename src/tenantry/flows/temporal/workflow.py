"""The provisioning workflow: the same saga as `InlineProvisioning`, made durable.

This module is loaded in Temporal's workflow sandbox: it imports nothing of tenantry's but
the names of the activities, and does no I/O. Activities are called by name, so the
workflow's code does not depend on the modules that run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

WORKFLOW_NAME = "tenantry.provision_organisation"
BEGIN = "tenantry.provisioning.begin"
RUN_STEP = "tenantry.provisioning.run_step"
COMPENSATE_STEP = "tenantry.provisioning.compensate_step"
FINISH = "tenantry.provisioning.finish"

# The store's own calls are retried until they succeed: a database outage is waited out.
_STORE_TIMEOUT = timedelta(seconds=30)
_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@dataclass(frozen=True)
class ProvisionRequest:
    org_id: str
    actor_id: str
    steps: list[str]  # the step names, in order, as configured when the workflow started
    step_attempts: int = 3
    step_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class StepRequest:
    org_id: str
    actor_id: str
    step: str


@dataclass(frozen=True)
class FinishRequest:
    org_id: str
    actor_id: str
    failed_step: str | None = None
    error: str | None = None  # as members may read it


@workflow.defn(name=WORKFLOW_NAME)
class ProvisionOrganisation:
    @workflow.run
    async def run(self, request: ProvisionRequest) -> str:
        """The organisation's final status, or `SKIPPED` when it was no longer PROVISIONING
        (a repeated start, or an organisation deleted meanwhile)."""
        began = await workflow.execute_activity(
            BEGIN,
            request.org_id,
            result_type=bool,
            start_to_close_timeout=_STORE_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        if not began:
            return "SKIPPED"
        done: list[str] = []
        for step in request.steps:
            try:
                await workflow.execute_activity(
                    RUN_STEP,
                    StepRequest(request.org_id, request.actor_id, step),
                    start_to_close_timeout=timedelta(seconds=request.step_timeout_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        maximum_attempts=request.step_attempts,
                    ),
                )
            except ActivityError as failure:
                await self._compensate(request, done)
                failed = FinishRequest(request.org_id, request.actor_id, step, _public(failure))
                await self._finish(failed)
                return "FAILED"
            done.append(step)
        await self._finish(FinishRequest(request.org_id, request.actor_id))
        return "ACTIVE"

    async def _compensate(self, request: ProvisionRequest, done: list[str]) -> None:
        for step in reversed(done):
            # The activity logs and swallows a compensation's own failure, as the inline
            # engine does: one that cannot be undone must not stop the others.
            await workflow.execute_activity(
                COMPENSATE_STEP,
                StepRequest(request.org_id, request.actor_id, step),
                start_to_close_timeout=_STORE_TIMEOUT,
                retry_policy=_STORE_RETRY,
            )

    async def _finish(self, outcome: FinishRequest) -> None:
        await workflow.execute_activity(
            FINISH, outcome, start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY
        )


def _public(failure: ActivityError) -> str:
    # The activity raised an ApplicationError whose message is the public form of the step's
    # error; a timeout or a cancellation has no such cause.
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return f"{type(cause).__name__ if cause else 'ActivityError'} (details are in the worker log)"
