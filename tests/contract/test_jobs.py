"""JobsRepository: one job per id, due from its next attempt on, leased by a claim that one
process wins, then done or failed with a later attempt."""

from __future__ import annotations

from datetime import datetime, timedelta

from tenantry.domain.ids import new_id
from tenantry.domain.model import Job, JobStatus
from tenantry.store.open import Store
from tests.contract.builders import OUTBOX_AT, minutes
from tests.contract.steps import committed, present, read, refused

LATER = OUTBOX_AT + timedelta(days=1)


def given_job(store: Store, *, at: timedelta = timedelta(0)) -> Job:
    job = Job(
        id=f"provision:{new_id('org')}:0",
        kind="provision_organisation",
        subject_id=new_id("org"),
        actor_id=new_id("usr"),
        created_at=OUTBOX_AT,
        next_attempt_at=OUTBOX_AT + at,
    )
    committed(store, lambda uow: uow.jobs.add(job))
    return job


def stored(store: Store, job: Job) -> Job:
    return present(read(store, lambda uow: uow.jobs.get(job.id)))


def due_ids(store: Store, now: datetime = LATER) -> list[str]:
    return [job.id for job in read(store, lambda uow: uow.jobs.due(now, limit=1000))]


def test_an_added_job_is_pending_and_reads_back_whole(store: Store) -> None:
    job = given_job(store)
    assert stored(store, job) == job
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.PENDING, 0, None)


def test_a_job_asked_for_twice_is_refused_the_second_time(store: Store) -> None:
    job = given_job(store)
    assert refused(store, lambda uow: uow.jobs.add(job)).code == "job_exists"


def test_a_job_is_due_from_its_next_attempt_on(store: Store) -> None:
    job = given_job(store, at=minutes(5))
    assert job.id not in due_ids(store, OUTBOX_AT + minutes(4))
    assert job.id in due_ids(store, OUTBOX_AT + minutes(5))


def test_a_claim_leases_the_job_and_a_second_claim_of_the_same_read_is_refused(
    store: Store,
) -> None:
    job = given_job(store)
    until = OUTBOX_AT + minutes(10)
    committed(store, lambda uow: uow.jobs.claim(job, until=until))
    assert refused(store, lambda uow: uow.jobs.claim(job, until=until)).code == "job_claimed"
    assert stored(store, job).next_attempt_at == until
    assert job.id not in due_ids(store, until - minutes(1))


def test_a_done_job_is_never_due_again_and_cannot_be_claimed(store: Store) -> None:
    job = given_job(store)
    committed(store, lambda uow: uow.jobs.mark_done(job.id, at=OUTBOX_AT + minutes(1)))
    done = stored(store, job)
    assert (done.status, done.finished_at) == (JobStatus.DONE, OUTBOX_AT + minutes(1))
    assert job.id not in due_ids(store)
    assert refused(store, lambda uow: uow.jobs.claim(done, until=LATER)).code == "job_claimed"


def test_a_failed_start_is_due_again_at_its_next_attempt_with_its_error(store: Store) -> None:
    job = given_job(store)
    retry_at = OUTBOX_AT + minutes(30)
    committed(
        store,
        lambda uow: uow.jobs.mark_failed(
            job.id, attempts=1, next_attempt_at=retry_at, error="Unavailable"
        ),
    )
    failed = stored(store, job)
    assert (failed.status, failed.attempts, failed.last_error) == (
        JobStatus.PENDING,
        1,
        "Unavailable",
    )
    assert job.id not in due_ids(store, retry_at - minutes(1))
    assert job.id in due_ids(store, retry_at)
