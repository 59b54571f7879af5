"""Many writers appending to the audit log's hash chains at once, on SQLite and PostgreSQL.

Each commit locks its chains' heads, takes the next seqs and moves the heads, so whatever the
interleaving a chain ends up as 1..N without a gap or a repeat, its head is its last event,
every link verifies, and no acknowledged event is lost. That holds for many writers in one
organisation, for writers spread over several organisations and the system chain, and for
refusals, which the edge records in transactions of their own while changes commit around
them. Two transactions that append to the same two chains in opposite orders do not
deadlock: chains are locked in one order, whatever the order of appending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

from tenantry.audit.service import ChainReport, verify_chain
from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import chain_of
from tenantry.domain.ids import new_id
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tests.access_builders import org_path
from tests.concurrency.racing import BARRIER_TIMEOUT_SECONDS, race
from tests.harness import Account, Api, StoreTarget, audit_events, privileged

WRITERS = 8
COMMITS_EACH = 25
ORGS = 3
WRITERS_PER_ORG = 3
SYSTEM_WRITERS = 2
COMMITS_ACROSS = 12
TEAM_CREATORS = 6
REFUSED_MEMBERS = 8
SIDE_WRITERS = 3
SIDE_COMMITS = 10
WAIT_SECONDS = 30


def draft(org_id: str | None, writer: str, n: int) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.CONFIGURATION,
        action="race.append",
        outcome=Outcome.SUCCESS,
        org_id=org_id,
        actor_id=writer,
        details={"writer": writer, "n": n},
    )


def appender(tenantry: Tenantry, org_id: str | None, commits: int) -> Callable[[], str]:
    """A writer that commits `commits` events, one unit of work each; its actor id."""
    writer = new_id("usr")

    def write() -> str:
        for n in range(commits):
            run_use_case(
                tenantry.store.unit_of_work,
                lambda uow: uow.audit.append(draft(org_id, writer, n), at=tenantry.clock.now()),  # noqa: B023
                clock=tenantry.clock,
                org_id=org_id,
                user_id=writer,
            )
        return writer

    return write


def written_by(events: list[AuditEvent], writers: list[str]) -> list[tuple[str, int]]:
    """Which of the writers' commits are in the log, in a stable order (repeats kept)."""
    mine = set(writers)
    return sorted(
        (e.details["writer"], e.details["n"]) for e in events if e.details.get("writer") in mine
    )


def every_commit(writers: list[str], commits: int) -> list[tuple[str, int]]:
    return sorted((writer, n) for writer in writers for n in range(commits))


def checked(tenantry: Tenantry, org_id: str | None) -> ChainReport:
    """The chain's own check, as the operator runs it (who may read the system chain)."""
    with tenantry.store.unit_of_work(org_id=org_id, user_id=SYSTEM.user_id) as uow:
        return verify_chain(uow, org_id)


def assert_whole_chain(tenantry: Tenantry, target: StoreTarget, org_id: str) -> list[AuditEvent]:
    """An organisation's chain is 1..N, its head is its last event, every link holds."""
    events = audit_events(target, org_id=org_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        state = uow.audit.chain(org_id)
    assert state is not None
    last = events[-1]
    assert (state.head.seq, state.head.hash, state.head.latest_at) == (
        last.seq,
        last.hash,
        last.occurred_at,
    )
    report = checked(tenantry, org_id)
    assert (report.broken, report.checked) == (None, len(events))
    return events


def assert_all_wrote(outcomes: list[Any]) -> list[str]:
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert failed == [], f"every writer must commit all its events, got {failed!r}"
    return [str(o) for o in outcomes]


def test_many_writers_in_one_organisation_leave_one_chain_without_gaps(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    before = len(audit_events(store_target, org_id=org["id"]))

    writers = assert_all_wrote(
        race([appender(tenantry, org["id"], COMMITS_EACH) for _ in range(WRITERS)])
    )

    events = assert_whole_chain(tenantry, store_target, org["id"])
    assert len(events) == before + WRITERS * COMMITS_EACH
    assert written_by(events, writers) == every_commit(writers, COMMITS_EACH)


def test_writers_across_organisations_and_the_system_chain_keep_each_chain_whole(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    org_ids = [api.owner_with_org()[1]["id"] for _ in range(ORGS)]
    before = {org_id: len(audit_events(store_target, org_id=org_id)) for org_id in org_ids}
    chains: list[str | None] = [org_id for org_id in org_ids for _ in range(WRITERS_PER_ORG)]
    chains += [None] * SYSTEM_WRITERS

    writers = assert_all_wrote(race([appender(tenantry, c, COMMITS_ACROSS) for c in chains]))

    for org_id in org_ids:
        events = assert_whole_chain(tenantry, store_target, org_id)
        assert len(events) == before[org_id] + WRITERS_PER_ORG * COMMITS_ACROSS
        own = [w for w, c in zip(writers, chains, strict=True) if c == org_id]
        assert written_by(events, own) == every_commit(own, COMMITS_ACROSS)
    system_writers = writers[-SYSTEM_WRITERS:]
    in_system = [
        event
        for writer in system_writers
        for event in audit_events(store_target, org_id=None, actor_id=writer)
    ]
    assert written_by(in_system, system_writers) == every_commit(system_writers, COMMITS_ACROSS)
    report = checked(tenantry, None)
    assert report.broken is None
    assert report.checked == report.head_seq - report.start_seq


def http(app: Any, request: Callable[[TestClient], Response]) -> Callable[[], Response]:
    client = TestClient(app, raise_server_exceptions=False)  # one client per racer
    return lambda: request(client)


def create_team(account: Account, name: str) -> Callable[[TestClient], Response]:
    path = org_path(account, "teams")
    return lambda client: client.post(path, json={"name": name}, headers=account.auth)


def test_refusals_recorded_in_their_own_transactions_land_on_the_chain_with_the_changes(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    members = [api.member_of(org["id"]) for _ in range(REFUSED_MEMBERS)]
    before = len(audit_events(store_target, org_id=org["id"]))
    app = api.client.app
    attempts: list[Callable[[], object]] = [
        *(http(app, create_team(owner, f"Team {n}")) for n in range(TEAM_CREATORS)),
        *(http(app, create_team(member, "Not yours")) for member in members),
        *(appender(tenantry, org["id"], SIDE_COMMITS) for _ in range(SIDE_WRITERS)),
    ]

    outcomes = race(attempts)

    requests = TEAM_CREATORS + REFUSED_MEMBERS
    answers = [o for o in outcomes[:requests] if isinstance(o, Response)]
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * TEAM_CREATORS + [403] * REFUSED_MEMBERS, outcomes[:requests]
    writers = assert_all_wrote(outcomes[requests:])
    events = assert_whole_chain(tenantry, store_target, org["id"])
    new = events[before:]
    assert len(new) == TEAM_CREATORS + REFUSED_MEMBERS + SIDE_WRITERS * SIDE_COMMITS
    refusals = sorted(
        (e.actor_id or "", e.reason or "")
        for e in new
        if (e.action, e.outcome) == ("team:create", Outcome.DENIED)  # the permission refused
    )
    assert refusals == sorted((m.user_id, "missing_permission") for m in members)
    created = [e for e in new if (e.action, e.outcome) == ("team.create", Outcome.SUCCESS)]
    assert {e.resource_id for e in created} == {a.json()["id"] for a in answers if a.is_success}
    assert written_by(new, writers) == every_commit(writers, SIDE_COMMITS)


# --- PostgreSQL: two chains locked in opposite orders -----------------------------------------


@contextmanager
def chain_head_locked(target: StoreTarget, chain_id: str) -> Iterator[Callable[[], None]]:
    """Another transaction holds the chain's head row; the block gets a call that lets go."""
    with privileged(target) as db:
        row = db.execute(
            sa.text("SELECT chain_id FROM audit_chains WHERE chain_id = :id FOR UPDATE"),
            {"id": chain_id},
        ).one_or_none()
        assert row is not None, f"no head row for {chain_id}"
        try:
            yield db.rollback
        finally:
            db.rollback()


def waiting_for_locks(target: StoreTarget) -> Callable[[], int]:
    """How many sessions of the test's database wait for a lock now."""

    def count() -> int:
        with privileged(target) as db:
            waiting = db.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return int(waiting or 0)

    return count


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)  # SQLite has one lock
def test_two_transactions_appending_to_two_chains_in_opposite_orders_do_not_deadlock(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()  # its chain and the system chain (sign-ups) have heads
    org_id = org["id"]
    actor = new_id("usr")

    def appending(order: list[str | None]) -> Callable[[], None]:
        def write() -> None:
            def use_case(uow: Any) -> None:
                for chain in order:
                    uow.audit.append(draft(chain, actor, len(order)), at=tenantry.clock.now())

            run_use_case(tenantry.store.unit_of_work, use_case, clock=tenantry.clock, org_id=org_id)

        return write

    waiting = waiting_for_locks(store_target)
    # The organisation's head is held, so the first writer waits for it before it holds any
    # head. Had heads been locked in the order of appending, the second would take the system
    # head, then queue for the organisation's behind the first, which would then want the
    # system head: a deadlock once the organisation's head is let go.
    with (
        chain_head_locked(store_target, chain_of(org_id)) as let_go,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        org_first: Future[None] = pool.submit(appending([org_id, None]))
        eventually(lambda: waiting() == 1, "the first writer waiting for the head")
        system_first: Future[None] = pool.submit(appending([None, org_id]))
        eventually(lambda: waiting() == 2, "the second writer waiting too")
        let_go()
        org_first.result(timeout=BARRIER_TIMEOUT_SECONDS)
        system_first.result(timeout=BARRIER_TIMEOUT_SECONDS)

    assert_whole_chain(tenantry, store_target, org_id)
    assert len(audit_events(store_target, org_id=org_id, actor_id=actor)) == 2
    assert len(audit_events(store_target, org_id=None, actor_id=actor)) == 2
    assert checked(tenantry, None).broken is None
