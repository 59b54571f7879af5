"""Jobs on SQL. Global rows: a job names its subject (an organisation) by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantry.domain.model import Job, JobStatus
from tenantry.store.sql.schema import Id, UtcDateTime, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject_id", Id, nullable=False),
    sa.Column("actor_id", Id, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("finished_at", UtcDateTime),
    sa.Index("ix_jobs_due", "status", "next_attempt_at"),
)


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        subject_id=row.subject_id,
        actor_id=row.actor_id,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        status=JobStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        finished_at=row.finished_at,
    )


class SqlJobs:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def add(self, job: Job) -> None:
        statement = jobs.insert().values(
            id=job.id,
            kind=job.kind,
            subject_id=job.subject_id,
            actor_id=job.actor_id,
            created_at=job.created_at,
            next_attempt_at=job.next_attempt_at,
            status=job.status.value,
            attempts=job.attempts,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="job_exists")

    def get(self, job_id: str) -> Job | None:
        row = self._db.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return _job(row) if row else None

    def due(self, now: datetime, *, limit: int) -> list[Job]:
        stmt = (
            sa.select(jobs)
            .where(jobs.c.status == JobStatus.PENDING.value, jobs.c.next_attempt_at <= now)
            .order_by(jobs.c.next_attempt_at, jobs.c.id)
            .limit(limit)
        )
        return [_job(row) for row in self._db.execute(stmt)]

    def claim(self, job: Job, *, until: datetime) -> None:
        stmt = (
            jobs.update()
            .where(
                jobs.c.id == job.id,
                jobs.c.status == JobStatus.PENDING.value,
                jobs.c.next_attempt_at == job.next_attempt_at,
            )
            .values(next_attempt_at=until)
        )
        self._writes.add(stmt, expect=Expect.ONE_ROW, code="job_claimed")

    def mark_done(self, job_id: str, *, at: datetime) -> None:
        stmt = jobs.update().where(jobs.c.id == job_id)
        self._writes.add(stmt.values(status=JobStatus.DONE.value, finished_at=at))

    def mark_failed(
        self, job_id: str, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        values = {"attempts": attempts, "next_attempt_at": next_attempt_at, "last_error": error}
        self._writes.add(jobs.update().where(jobs.c.id == job_id).values(values))
