"""The signing-key ring and the jobs on DynamoDB."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tenantry.domain.model import Job, JobStatus, KeyState, SigningKey
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoSigningKeys:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def list(self) -> list[SigningKey]:
        found = self._reads.query("PK = :pk", {"pk": keys.SIGNING_KEYS})
        return sorted((_key(item) for item in found), key=lambda key: (key.created_at, key.kid))

    def add(self, key: SigningKey) -> None:
        self._writes.put(keys.signing_key(key.kid), _key_attributes(key), code="conflict")

    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None:
        moved: dict[str, Any] = {"state": new.value}
        if new is KeyState.RETIRED:
            moved["retired_at"] = at
        self._writes.update(
            keys.signing_key(kid),
            moved,
            expect={"state": expected.value},
            code="key_state_changed",
        )


class DynamoJobs:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def add(self, job: Job) -> None:
        self._writes.put(keys.job(job.id), _job_attributes(job), code="job_exists")

    def get(self, job_id: str) -> Job | None:
        found = self._reads.get(keys.job(job_id))
        return _job(found) if found is not None else None

    def due(self, now: datetime, *, limit: int) -> list[Job]:
        # The index is only eventually consistent: a job it shows is read again by key, and
        # its claim's condition decides.
        found = self._reads.query(
            "GSI3PK = :pk AND GSI3SK <= :now",
            {"pk": keys.PENDING_JOBS, "now": keys.sortable(now) + "#\uffff"},
            index="GSI3",
            wanted=limit,
        )
        return [_job(item) for item in found]

    def claim(self, job: Job, *, until: datetime) -> None:
        self._writes.update(
            keys.job(job.id),
            {"next_attempt_at": until, **keys.job_index(True, until, job.id)},
            expect={"status": JobStatus.PENDING.value, "next_attempt_at": job.next_attempt_at},
            code="job_claimed",
        )

    def mark_done(self, job_id: str, *, at: datetime) -> None:
        stored = self._reads.get(keys.job(job_id))
        if stored is None:
            return
        index = keys.job_index(False, _job(stored).next_attempt_at, job_id)
        self._writes.update(
            keys.job(job_id),
            {"status": JobStatus.DONE.value, "finished_at": at, **index},
            code="conflict",
        )

    def mark_failed(
        self, job_id: str, *, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        self._writes.update(
            keys.job(job_id),
            {
                "attempts": attempts,
                "next_attempt_at": next_attempt_at,
                "last_error": error,
                **keys.job_index(True, next_attempt_at, job_id),
            },
            code="conflict",
        )


def _key_attributes(key: SigningKey) -> dict[str, Any]:
    return {
        "entity": "signing_key",
        "kid": key.kid,
        "alg": key.alg,
        "public_jwk": json.dumps(key.public_jwk),
        "private_key_encrypted": key.private_key_encrypted,
        "state": key.state.value,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
    }


def _key(item: dict[str, Any]) -> SigningKey:
    created = codec.required_moment(item["created_at"])
    return SigningKey(
        kid=item["kid"],
        alg=item["alg"],
        public_jwk=json.loads(item["public_jwk"]),
        private_key_encrypted=item["private_key_encrypted"],
        state=KeyState(item["state"]),
        created_at=created,
        retired_at=codec.moment(item.get("retired_at")),
    )


def _job_attributes(job: Job) -> dict[str, Any]:
    pending = job.status is JobStatus.PENDING
    return {
        "entity": "job",
        "id": job.id,
        "kind": job.kind,
        "subject_id": job.subject_id,
        "actor_id": job.actor_id,
        "created_at": job.created_at,
        "next_attempt_at": job.next_attempt_at,
        "status": job.status.value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "finished_at": job.finished_at,
        **keys.job_index(pending, job.next_attempt_at, job.id),
    }


def _job(item: dict[str, Any]) -> Job:
    created, due = (
        codec.required_moment(item["created_at"]),
        codec.required_moment(item["next_attempt_at"]),
    )
    return Job(
        id=item["id"],
        kind=item["kind"],
        subject_id=item["subject_id"],
        actor_id=item["actor_id"],
        created_at=created,
        next_attempt_at=due,
        status=JobStatus(item["status"]),
        attempts=item.get("attempts", 0),
        last_error=item.get("last_error"),
        finished_at=codec.moment(item.get("finished_at")),
    )
