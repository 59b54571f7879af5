"""The Temporal worker that runs provisioning: the workflow and its activities, on the task
queue the engine starts workflows on. `tenantry worker` runs it in the foreground; tests and
embedding code can run it in a thread of its own (`start`, `stop`)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from tenantry.bootstrap import Tenantry
from tenantry.flows.temporal.activities import ProvisioningActivities
from tenantry.flows.temporal.engine import TemporalTarget
from tenantry.flows.temporal.workflow import ProvisionOrganisation

# Activities run at most this many at once in one worker (each holds a store connection).
ACTIVITY_THREADS = 8

log = structlog.get_logger()


class ProvisioningWorker:
    def __init__(self, target: TemporalTarget, activities: ProvisioningActivities) -> None:
        self.target = target
        self._activities = activities
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def run(self) -> None:
        """Poll the task queue until `stop` is called (from a signal handler, say)."""
        asyncio.run(self._serve())

    def start(self) -> None:
        """Run in a daemon thread; returns once the worker polls, or raises why it cannot."""
        self._ready.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._run_recording, name="tenantry-worker")
        self._thread.daemon = True
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish the activities in progress, then stop polling."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run_recording(self) -> None:
        try:
            self.run()
        except BaseException as failure:
            self._failure = failure
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        client = await Client.connect(self.target.address, namespace=self.target.namespace)
        with ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="tenantry-activity") as pool:
            worker = Worker(
                client,
                task_queue=self.target.task_queue,
                workflows=[ProvisionOrganisation],
                activities=self._activities.all(),
                activity_executor=pool,
            )
            async with worker:
                log.info("worker.started", task_queue=self.target.task_queue)
                self._ready.set()
                await self._stopping.wait()
        log.info("worker.stopped", task_queue=self.target.task_queue)


def provisioning_worker(tenantry: Tenantry) -> ProvisioningWorker:
    """The worker for this tenantry's settings: its store, services and provisioning steps."""
    settings = tenantry.settings
    target = TemporalTarget(
        settings.temporal_address, settings.temporal_namespace, settings.temporal_task_queue
    )
    activities = ProvisioningActivities(
        tenantry.store.unit_of_work, tenantry.deps, tenantry.provisioning_steps
    )
    return ProvisioningWorker(target, activities)
