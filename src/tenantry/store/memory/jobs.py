"""Jobs in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.model import Job, JobStatus
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _jobs(state: MemoryState) -> dict[str, Job]:
    return state.jobs


class MemoryJobs:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _jobs)

    def add(self, job: Job) -> None:
        self._table.insert(job.id, job, code="job_exists")

    def get(self, job_id: str) -> Job | None:
        return self._table.get(job_id)

    def due(self, now: datetime, *, limit: int) -> list[Job]:
        found = self._table.select(
            lambda job: job.status == JobStatus.PENDING and job.next_attempt_at <= now
        )
        found.sort(key=lambda job: (job.next_attempt_at, job.id))
        return found[:limit]

    def claim(self, job: Job, *, until: datetime) -> None:
        self._table.update(
            job.id,
            lambda stored: replace(stored, next_attempt_at=until),
            precondition=lambda stored: (
                stored.status == JobStatus.PENDING and stored.next_attempt_at == job.next_attempt_at
            ),
            code="job_claimed",
        )

    def mark_done(self, job_id: str, *, at: datetime) -> None:
        self._table.update(job_id, lambda job: replace(job, status=JobStatus.DONE, finished_at=at))

    def mark_failed(
        self, job_id: str, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        self._table.update(
            job_id,
            lambda job: replace(
                job, attempts=attempts, next_attempt_at=next_attempt_at, last_error=error
            ),
        )
