"""A background thread that keeps the outbox moving inside a long-running server."""

from __future__ import annotations

import threading

import structlog

from tenantry.clock import Clock
from tenantry.flows.dispatch import DispatchReport, dispatch_due
from tenantry.outbox.ports import Mailer
from tenantry.unit_of_work import UnitOfWorkFactory

_log = structlog.get_logger()


class OutboxDispatcher:
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
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._clock = clock
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            raise RuntimeError("the outbox dispatcher is already running")
        self._stopping.clear()
        # A daemon thread: a process that exits without calling stop() must not hang on it.
        self._thread = threading.Thread(target=self._run, name="tenantry-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Wake the thread and wait for the send in progress, if any, to finish."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            report = self._dispatch_once()
            # A full batch means more may be due: go again at once instead of sleeping.
            if report is None or _handled(report) < self._batch_size:
                self._stopping.wait(self._poll_seconds)

    def _dispatch_once(self) -> DispatchReport | None:
        try:
            report = dispatch_due(
                self._uow_factory,
                self._mailer,
                clock=self._clock,
                max_attempts=self._max_attempts,
                batch_size=self._batch_size,
            )
        except Exception:
            # The thread must outlive a database outage; the next poll tries again.
            _log.exception("outbox_dispatch_failed")
            return None
        if _handled(report):
            _log.info("outbox_dispatched", sent=report.sent, failed=report.failed, dead=report.dead)
        return report


def _handled(report: DispatchReport) -> int:
    return report.sent + report.failed + report.dead
