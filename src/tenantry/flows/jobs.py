"""Starting jobs: at once, by the flow that wrote the job, and later, by the relay, for a job
whose process died before it could start it. A job is leased while it runs, so two
processes never run the same one; a job whose start failed is tried again with backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from tenantry.clock import Clock
from tenantry.domain.audit import ActorType
from tenantry.domain.errors import Conflict
from tenantry.domain.model import Job, JobStatus, Organisation
from tenantry.domain.organisations import PROVISION_JOB
from tenantry.domain.principal import SYSTEM, Principal
from tenantry.flows.dispatch import backoff
from tenantry.flows.registration import ProvisioningEngine
from tenantry.unit_of_work import UnitOfWorkFactory

# Longer than provisioning may take; a job still leased after it is presumed abandoned.
JOB_LEASE = timedelta(minutes=10)

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class _Ran:
    # What the engine gave back: the organisation as provisioned, or None when it provisions
    # elsewhere (a Temporal workflow).
    result: Organisation | None


@dataclass(frozen=True, slots=True)
class JobRunner:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    provisioning: ProvisioningEngine

    def start(self, job_id: str) -> Organisation | None:
        """Run the job now if nobody else holds it; None when it was not this process's to run."""
        with self.uow_factory() as uow:
            job = uow.jobs.get(job_id)
        ran = self._run(job) if job is not None else None
        return ran.result if ran is not None else None

    def run_due(self, *, limit: int = 10) -> int:
        """Start the jobs whose time has come (their first process died); how many ran."""
        with self.uow_factory() as uow:
            due = uow.jobs.due(self.clock.now(), limit=limit)
        return sum(1 for job in due if self._run(job) is not None)

    def _run(self, job: Job) -> _Ran | None:
        """None when the job was not run here (another process holds it) or failed to start."""
        if job.status is not JobStatus.PENDING or not self._claim(job):
            return None
        try:
            result = self._execute(job)
        except Exception as error:  # the engine failed to run it: try again later
            log.exception("job.failed", job_id=job.id, kind=job.kind)
            self._record_failure(job, error)
            return None
        self._finish(job)
        return _Ran(result)

    def _claim(self, job: Job) -> bool:
        try:
            with self.uow_factory() as uow:
                uow.jobs.claim(job, until=self.clock.now() + JOB_LEASE)
                uow.commit()
        except Conflict:
            return False  # another process holds it
        return True

    def _execute(self, job: Job) -> Organisation | None:
        if job.kind != PROVISION_JOB:
            raise ValueError(f"no runner for jobs of kind {job.kind}")
        return self.provisioning.provision(job.subject_id, actor_of(job.actor_id))

    def _finish(self, job: Job) -> None:
        # The work is done whatever happens here: a job left pending is run again when its
        # lease ends, and the engine then finds nothing to do.
        try:
            with self.uow_factory() as uow:
                uow.jobs.mark_done(job.id, at=self.clock.now())
                uow.commit()
        except Exception:
            log.exception("job.not_marked_done", job_id=job.id)

    def _record_failure(self, job: Job, error: Exception) -> None:
        attempts = job.attempts + 1
        try:
            with self.uow_factory() as uow:
                uow.jobs.mark_failed(
                    job.id,
                    attempts=attempts,
                    next_attempt_at=self.clock.now() + backoff(attempts),
                    # The type only: the message may hold hosts or secrets (the log has it).
                    error=type(error).__name__,
                )
                uow.commit()
        except Exception:  # the lease runs out and the job is tried again anyway
            log.exception("job.failure_not_recorded", job_id=job.id)


def actor_of(actor_id: str) -> Principal:
    """The principal a job or a workflow acts for, from the id it recorded."""
    return SYSTEM if actor_id == SYSTEM.user_id else Principal(actor_id, actor_type=ActorType.USER)
