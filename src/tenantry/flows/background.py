"""A background thread that polls for work inside a long-running server (`tenantry serve`)."""

from __future__ import annotations

import threading

import structlog

_log = structlog.get_logger()


class PollingThread:
    """Calls `poll_once` until stopped; sleeps `poll_seconds` unless a full batch was handled
    (more may be due: it goes again at once). A failed poll is logged and retried next time:
    the thread must outlive a database outage."""

    name = "tenantry-poller"

    def __init__(self, *, poll_seconds: float, batch_size: int) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """Handle what is due, at most a batch; return how many were handled."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._stopping.clear()
        # A daemon thread: a process that exits without calling stop() must not hang on it.
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Wake the thread and wait for the work in progress, if any, to finish."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = self.poll_once()
            except Exception:
                _log.exception("background.poll_failed", thread=self.name)
                handled = 0
            if handled < self._batch_size:
                self._stopping.wait(self._poll_seconds)
