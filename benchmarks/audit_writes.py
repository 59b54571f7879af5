"""Audit events written per second with the hash chain and without it, side by side in one
run, on SQLite and PostgreSQL.

Run: .venv/bin/python benchmarks/audit_writes.py   (about a minute and a half a store)

PostgreSQL is measured on each server at hand (`audit_stores.py`): the one
`TENANTRY_TEST_POSTGRES_URL` names, and the suite's embedded one (fsync off) when its wheel is
installed. A commit's flush decides how long a chain's head stays locked, so both are shown.

Every write is one event in a transaction of its own, as a refused use case records its
event (`edge.record_refusal`). Three contenders write the same row through the same engine
and connection pool, as the runtime role:

- `unit of work`: tenantry's path, `store.unit_of_work(org_id=...)`, `uow.audit.append(...)`,
  `uow.commit()`; at commit the chain's head row is locked (an upsert), the event takes the
  next seq and its hash, the head moves (`store/sql/audit.py` `append_chained`);
- `chain only`: `append_chained` in a bare transaction: the chain without the unit of work;
- `baseline`: a bare INSERT of the same row with seq, prev_hash and hash NULL: no chain.

Each runs with 1, 4 and 16 threads in three placements: every thread in one organisation,
each thread in its own, and the system chain (events of no organisation, such as failed
sign-ins for unknown emails). A cell lasts SECONDS; in every round each placement and thread
count runs its three contenders back to back, in an order that rotates, for ROUNDS rounds.
The tables give the median rate and the median of the rounds' ratios to the baseline (the
ratios of one round met the same machine). Afterwards every chain written is verified with
`audit.verify_chain`, which recomputes each hash.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from audit_stores import describe_sqlite, postgres_database, postgres_sources, sqlite_database
from report import cpu_model, replace_section

from tenantry.audit import service as audit
from tenantry.domain.audit import (
    ActorType,
    AuditDraft,
    AuditEvent,
    EventType,
    Outcome,
    unchained_event,
)
from tenantry.store.sql.audit import append_chained, audit_events
from tenantry.store.sql.store import SqlStore

SECONDS = 1.0
ROUNDS = 3
THREADS = (1, 4, 16)
PLACEMENTS = ("one org", "org per thread", "system chain")
CONTENDERS = ("baseline", "chain only", "unit of work")
LOAD = os.getloadavg()  # the machine's noise when the run began
SET_SCOPE = sa.text(
    "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true)"
)

Write = Callable[[int], None]  # one event in one transaction, by thread number


def refusal(org_id: str | None, actor_id: str) -> AuditDraft:
    """The event of a refused use case; in the system chain, a failed sign-in."""
    if org_id is None:
        return AuditDraft(
            event_type=EventType.AUTHENTICATION,
            action="auth.login",
            outcome=Outcome.FAILURE,
            actor_type=ActorType.ANONYMOUS,
            resource_type="user",
            reason="unknown_email",
            details={"email": f"{actor_id}@example.com"},
        )
    return AuditDraft(
        event_type=EventType.AUTHORIZATION,
        action="role:update",
        outcome=Outcome.DENIED,
        org_id=org_id,
        actor_id=actor_id,
        resource_type="role",
        resource_id="rol_0123456789abcdefghjkmnpq",
        reason="missing_permission",
    )


def plain_row(event: AuditEvent) -> dict[str, Any]:
    row = {column.name: getattr(event, column.name) for column in fields(event)}
    enums = ("event_type", "outcome", "actor_type")
    return row | {name: getattr(event, name).value for name in enums}


class Writers:
    """The three contenders' writes, for one placement, thread count and round of a store."""

    def __init__(self, store: SqlStore, placement: str, threads: int, label: str) -> None:
        self.store = store
        self.orgs = [self._org(placement, label, t) for t in range(threads)]
        self.actors = [f"usr_bench{label}t{t}" for t in range(threads)]

    @staticmethod
    def _org(placement: str, label: str, thread: int) -> str | None:
        if placement == "system chain":
            return None
        return f"org_bench{label}" + ("" if placement == "one org" else f"t{thread}")

    def _scoped(self, db: sa.Connection, thread: int) -> None:
        # As the unit of work: a round trip only when there is a scope to set.
        org_id, actor = self.orgs[thread], self.actors[thread]
        user_id = actor if org_id is not None else None
        if db.dialect.name == "postgresql" and (org_id, user_id) != (None, None):
            db.execute(SET_SCOPE, {"org_id": org_id, "user_id": user_id})

    def _event(self, thread: int) -> AuditEvent:
        draft = refusal(self.orgs[thread], self.actors[thread])
        return unchained_event(draft, at=datetime.now(UTC), request_id=None)

    def baseline(self, thread: int) -> None:
        with self.store.engine.begin() as db:
            self._scoped(db, thread)
            db.execute(audit_events.insert(), plain_row(self._event(thread)))

    def chain_only(self, thread: int) -> None:
        with self.store.engine.begin() as db:
            self._scoped(db, thread)
            append_chained(db, [self._event(thread)])

    def unit_of_work(self, thread: int) -> None:
        org_id = self.orgs[thread]
        user_id = self.actors[thread] if org_id is not None else None
        with self.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
            uow.audit.append(refusal(org_id, self.actors[thread]), at=datetime.now(UTC))
            uow.commit()

    def of(self, contender: str) -> Write:
        return {
            "baseline": self.baseline,
            "chain only": self.chain_only,
            "unit of work": self.unit_of_work,
        }[contender]


def writes_per_second(write: Write, threads: int, seconds: float) -> tuple[float, Counter[str]]:
    """Writes per second of `threads` threads writing back to back for `seconds`; and the
    errors met, by kind."""
    start = threading.Barrier(threads + 1)
    stop = threading.Event()
    counts = [0] * threads
    errors: Counter[str] = Counter()

    def work(thread: int) -> None:
        start.wait()
        while not stop.is_set():
            try:
                write(thread)
                counts[thread] += 1
            except Exception as error:  # counted and shown: a benchmark must not hide them
                errors[type(error).__name__ + " " + str(getattr(error, "code", ""))] += 1

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - began), errors


@dataclass
class Cell:
    """One placement and thread count of a store: rates by contender, one per round."""

    rates: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})
    errors: Counter[str] = field(default_factory=Counter)

    def ratio(self, contender: str) -> float:
        rounds = zip(self.rates[contender], self.rates["baseline"], strict=True)
        return statistics.median(rate / base for rate, base in rounds)


def measure(store: SqlStore, name: str) -> dict[tuple[str, int], Cell]:
    cells = {(p, n): Cell() for p in PLACEMENTS for n in THREADS}
    for round_ in range(ROUNDS):
        for i, ((placement, threads), cell) in enumerate(cells.items()):
            shift = (round_ + i) % len(CONTENDERS)
            for contender in CONTENDERS[shift:] + CONTENDERS[:shift]:
                # Each contender its own organisations: the baseline's rows are on no chain.
                label = f"{name[:2]}{i}{contender[0]}"
                write = Writers(store, placement, threads, label).of(contender)
                write(0)  # the first write creates the chain's head and warms the caches
                rate, errors = writes_per_second(write, threads, SECONDS)
                cell.rates[contender].append(rate)
                cell.errors += errors
            step(f"{name}, round {round_ + 1}: {placement}, {threads} threads")
    return cells


def verify_written(store: SqlStore, cleanup: sa.Engine) -> tuple[int, int, list[str]]:
    """(chains, events) checked, and the chains found broken. The baseline's rows have no
    place in a chain, so those of no organisation are deleted first (as a privileged role)."""
    with cleanup.begin() as db:
        db.execute(
            audit_events.delete().where(
                audit_events.c.org_id.is_(None), audit_events.c.seq.is_(None)
            )
        )
    with store.unit_of_work(user_id="system") as uow:
        states = uow.audit.chains()
    checked, broken = 0, []
    for state in states:
        with store.unit_of_work(org_id=state.org_id, user_id="system") as uow:
            report = audit.verify_chain(uow, state.org_id)
        checked += report.checked
        if not report.ok:
            broken.append(f"{report.chain_id}: {report.broken}")
    return len(states), checked, broken


def step(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


# --- the report -----------------------------------------------------------------------------


def rate_cell(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f}"


def table(cells: dict[tuple[str, int], Cell]) -> list[str]:
    lines = [
        "| placement | threads | baseline w/s | chain only w/s | unit of work w/s "
        "| chain only : baseline | unit of work : baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for (placement, threads), cell in cells.items():
        rates = " | ".join(rate_cell(cell.rates[c]) for c in CONTENDERS)
        ratios = f"{cell.ratio('chain only'):.2f} | **{cell.ratio('unit of work'):.2f}**"
        lines.append(f"| {placement} | {threads} | {rates} | {ratios} |")
    return lines


def scaling(cells: dict[tuple[str, int], Cell]) -> list[str]:
    """Writes per second at 16 threads over 1 thread, by placement and contender."""
    lines = ["| placement | baseline | chain only | unit of work |", "|---|---|---|---|"]
    for placement in PLACEMENTS:
        one, many = cells[(placement, THREADS[0])], cells[(placement, THREADS[-1])]
        gains = [
            statistics.median(many.rates[c]) / statistics.median(one.rates[c]) for c in CONTENDERS
        ]
        lines.append(f"| {placement} | " + " | ".join(f"{g:.2f}" for g in gains) + " |")
    return lines


def errors_line(cells: dict[tuple[str, int], Cell]) -> str:
    found: Counter[str] = Counter()
    for cell in cells.values():
        found += cell.errors
    return ", ".join(f"{n} x {kind}" for kind, n in found.items()) or "none"


@dataclass
class StoreResult:
    name: str
    description: str
    cells: dict[tuple[str, int], Cell]
    verified: tuple[int, int, list[str]]


def section(results: list[StoreResult]) -> list[str]:
    lines = [
        "Written by `.venv/bin/python benchmarks/audit_writes.py`: one event per transaction",
        "(as a refusal is recorded), as the runtime role, through one engine and pool per",
        f"store; {SECONDS:g} s a cell, {ROUNDS} rounds, the contenders in rotating order; rates",
        "are medians over the rounds, ratios the median of each round's ratio to the baseline.",
        "`baseline` inserts the same row with no chain, `chain only` runs the chain's",
        "statements (`append_chained`) in a bare transaction, `unit of work` is tenantry's",
        "path (`store.unit_of_work(...)`, `uow.audit.append`, `uow.commit()`).",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()},",
        f"{platform.system()}, {datetime.now(UTC):%Y-%m-%d}; load average {LOAD[0]:.1f} at the",
        f"start, {os.getloadavg()[0]:.1f} at the end; the writers are threads of one process (one",
        "GIL), the database on the same machine.",
    ]
    for result in results:
        chains, events, broken = result.verified
        verdict = "all intact" if not broken else f"BROKEN: {'; '.join(broken)}"
        lines += [
            "",
            f"**{result.name}** ({result.description})",
            "",
            *table(result.cells),
            "",
            "Gain from 1 to 16 threads (writes/s at 16 : at 1):",
            "",
            *scaling(result.cells),
            "",
            f"Errors: {errors_line(result.cells)}. Afterwards {chains} chains ({events:,}"
            f" events) were verified: {verdict}.",
        ]
    return lines


def run_store(name: str, description: str, url: str, privileged: str) -> StoreResult:
    store, cleanup = SqlStore(url), sa.create_engine(privileged)
    try:
        cells = measure(store, name)
        verified = verify_written(store, cleanup)
    finally:
        store.dispose()
        cleanup.dispose()
    return StoreResult(name, description, cells, verified)


def main() -> None:
    results = []
    with sqlite_database() as url:
        results.append(run_store("SQLite", describe_sqlite(), url, url))
    for source in postgres_sources():
        with postgres_database(source) as pg:
            urls = pg.urls
            admin = sa.make_url(urls.admin_url).set(database=urls.database)
            privileged = admin.render_as_string(hide_password=False)
            results.append(run_store("PostgreSQL", pg.description, urls.runtime_url, privileged))
    lines = section(results)
    replace_section("audit_writes.py", "Audit writes with the hash chain", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
