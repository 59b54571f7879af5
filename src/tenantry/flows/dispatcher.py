"""The background threads of a long-running server: the outbox dispatcher and the job relay."""

from __future__ import annotations

import structlog

from tenantry.clock import Clock
from tenantry.flows.background import PollingThread
from tenantry.flows.dispatch import DispatchReport, dispatch_due
from tenantry.flows.jobs import JobRunner
from tenantry.outbox.ports import Mailer
from tenantry.unit_of_work import UnitOfWorkFactory

_log = structlog.get_logger()


class OutboxDispatcher(PollingThread):
    """Sends due emails, in the background of `tenantry serve` (`start`, `stop`) or in the
    foreground of `tenantry outbox run` (`drain`). A stop takes effect after the message
    being sent: the rest of the batch is handed back, due at once."""

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
        self._totals = DispatchReport()

    @property
    def totals(self) -> DispatchReport:
        """What this dispatcher has sent, failed and given up on so far."""
        return self._totals

    def poll_once(self) -> int:
        report = dispatch_due(
            self._uow_factory,
            self._mailer,
            clock=self._clock,
            max_attempts=self._max_attempts,
            batch_size=self._batch_size,
            stopping=self._stopping,
        )
        self._totals = self._totals.plus(report)  # one writer: the polling thread
        if report.handled:
            _log.info("outbox_dispatched", sent=report.sent, failed=report.failed, dead=report.dead)
        return report.handled

    def drain(self) -> DispatchReport:
        """In this thread: batch after batch until one is short, so what was due is done."""
        handled = self._batch_size
        while handled >= self._batch_size and not self._stopping.is_set():
            handled = self.poll_once()
        return self._totals

    def stop_soon(self) -> None:
        """Ask for a stop after the current message, without waiting (a signal handler's
        part: `stop` then waits for the thread)."""
        self._stopping.set()

    def stop_requested(self, timeout: float) -> bool:
        """Whether a stop was asked for, waiting up to `timeout` seconds for one."""
        return self._stopping.wait(timeout)


class JobRelay(PollingThread):
    """Starts the jobs a dead process left pending (a provisioning it never began)."""

    name = "tenantry-jobs"

    def __init__(self, jobs: JobRunner, *, poll_seconds: float, batch_size: int = 10) -> None:
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._jobs = jobs

    def poll_once(self) -> int:
        return self._jobs.run_due(limit=self._batch_size)
