"""Jobs to start after a commit. A job row is written in the transaction that asks for it;
the flow that made it starts it at once, and a relay starts whatever a dead process left."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.model import Job


class JobsRepository(Protocol):
    def add(self, job: Job) -> None:
        """Precondition: no job has this id (`Conflict` `job_exists`): asking twice is one job."""

    def get(self, job_id: str) -> Job | None: ...
    def due(self, now: datetime, *, limit: int) -> list[Job]:
        """PENDING jobs whose next attempt is due, oldest first."""

    def claim(self, job: Job, *, until: datetime) -> None:
        """Lease the job to this process: its next attempt moves to `until`.

        Precondition: still PENDING with the next attempt that was read (`Conflict`
        `job_claimed`), so two processes never start the same job at once.
        """

    def mark_done(self, job_id: str, *, at: datetime) -> None: ...
    def mark_failed(
        self, job_id: str, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        """The start itself failed (the engine was unreachable): try again later."""
