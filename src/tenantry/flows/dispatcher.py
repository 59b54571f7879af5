"""The background threads of a long-running server: the outbox dispatcher and the job relay."""

from __future__ import annotations

import structlog

from tenantry.clock import Clock
from tenantry.flows.background import PollingThread
from tenantry.flows.dispatch import dispatch_due
from tenantry.flows.jobs import JobRunner
from tenantry.outbox.ports import Mailer
from tenantry.unit_of_work import UnitOfWorkFactory

_log = structlog.get_logger()


class OutboxDispatcher(PollingThread):
    name = "tenantry-outbox"

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        mailer: Mailer,
        *,
        clock: Clock,
        max_attempts: int,
        poll_seconds: float,
        batch_size: int = 20,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._clock = clock
        self._max_attempts = max_attempts

    def poll_once(self) -> int:
        report = dispatch_due(
            self._uow_factory,
            self._mailer,
            clock=self._clock,
            max_attempts=self._max_attempts,
            batch_size=self._batch_size,
        )
        handled = report.sent + report.failed + report.dead
        if handled:
            _log.info("outbox_dispatched", sent=report.sent, failed=report.failed, dead=report.dead)
        return handled


class JobRelay(PollingThread):
    """Starts the jobs a dead process left pending (a provisioning it never began)."""

    name = "tenantry-jobs"

    def __init__(self, jobs: JobRunner, *, poll_seconds: float, batch_size: int = 10) -> None:
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._jobs = jobs

    def poll_once(self) -> int:
        return self._jobs.run_due(limit=self._batch_size)
