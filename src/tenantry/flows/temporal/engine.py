"""The Temporal provisioning engine: `provision` starts the workflow and returns at once.

It is called by the job runner after the registration (or retry) committed its job: a start
that fails (Temporal unreachable) raises, the job is kept and the relay tries again with
backoff, so an organisation registered while Temporal is down is provisioned once it is back.
The workflow id is the organisation's, so a start that comes twice is one workflow.

The SDK is asynchronous and the services are not: the engine keeps one event loop in a thread
of its own, with one client on it, and waits for each start there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from tenantry.domain.model import Organisation
from tenantry.domain.principal import Principal
from tenantry.flows.temporal.workflow import ProvisionOrganisation, ProvisionRequest

T = TypeVar("T")

# Connecting and starting each wait at most this long: a registration is not held up for
# longer by a Temporal that does not answer (its job is then retried by the relay).
START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class TemporalTarget:
    address: str
    namespace: str
    task_queue: str


def workflow_id(org_id: str) -> str:
    return f"provision-{org_id}"


class TemporalProvisioning:
    def __init__(
        self,
        target: TemporalTarget,
        steps: list[str],
        *,
        step_attempts: int,
        step_timeout_seconds: float,
    ) -> None:
        self.target = target
        self.step_names = steps
        self._step_attempts = step_attempts
        self._step_timeout_seconds = step_timeout_seconds
        self._loop = _LoopThread()
        self._client: Client | None = None

    def provision(self, org_id: str, actor: Principal) -> Organisation | None:
        """Start (or find running) the organisation's workflow; None: it runs elsewhere."""
        request = ProvisionRequest(
            org_id,
            actor.user_id,
            list(self.step_names),
            step_attempts=self._step_attempts,
            step_timeout_seconds=self._step_timeout_seconds,
        )
        self._loop.run(self._start(request), timeout=START_TIMEOUT_SECONDS)
        return None

    def close(self) -> None:
        self._loop.stop()

    async def _start(self, request: ProvisionRequest) -> None:
        client = await self._connected()
        try:
            await client.start_workflow(
                ProvisionOrganisation.run,
                request,
                id=workflow_id(request.org_id),
                task_queue=self.target.task_queue,
                # Running: the same workflow (a repeated start is a no-op). Closed: a new run,
                # which finds nothing to do unless the organisation was set to provision again.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
        except Exception:
            self._client = None  # connect afresh next time: the server may have moved or died
            raise

    async def _connected(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(
                self.target.address, namespace=self.target.namespace
            )
        return self._client


class _LoopThread:
    """An event loop running in a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None and self._thread is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(5)
            self._loop = self._thread = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="tenantry-temporal", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop
