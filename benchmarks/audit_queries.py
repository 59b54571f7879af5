"""The first page of the audit log for each filter, at 10 k and at 1 M events of one
organisation on PostgreSQL: does it stay flat?

Run: .venv/bin/python benchmarks/audit_queries.py   (about two minutes)

The events are generated in SQL as the superuser (`generate_series`, indexes rebuilt after
the load, then VACUUM ANALYZE): one organisation, seq 1..N without gaps, times spread evenly
over two years and rising with seq, 100 actors, 20 action kinds of 9 event types in skewed
shares, 20 resources of each type, outcomes 90 % SUCCESS, 7 % FAILURE, 3 % DENIED; the
chain's head row says N. Hashes are stand-ins (queries do not read them). Both sizes use the
same generator and the same filter values.

Each filter is asked as the service asks it: `AuditFilters(...).query(org, newest_first=True,
limit=51)` (a page of 50 and one more to know there is a next page), through
`uow.audit.find` in a unit of work bound to the organisation, as the runtime role (row-level
security on). The median of REPEATS timed calls (after warm-up) is reported with the shared
buffers the plan touched (`EXPLAIN (ANALYZE, BUFFERS)` of the very statement the store sent),
which do not depend on the machine's noise; the trimmed plans at 1 M follow. Then the
statistics are sampled again REANALYZE times (ANALYZE reads a random sample) and every
statement planned again: a filter is flat only if its costliest plan is.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from audit_stores import postgres_database
from report import cpu_model, replace_section

from tenantry.audit.service import AuditFilters
from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.audit_chain import GENESIS
from tenantry.store.sql.audit import audit_chains, audit_events
from tenantry.store.sql.store import SqlStore

SIZES = (10_000, 1_000_000)
REPEATS = 25
REANALYZE = 5  # fresh statistics samples, each statement planned again under each
PAGE = 50
ORG = "org_auditbench0000000000000"
SPAN = timedelta(days=730)
END = datetime(2026, 6, 30, 12, tzinfo=UTC)  # the newest event; fixed so runs compare
ACTORS, RESOURCES_PER_TYPE = 100, 20
LOAD = os.getloadavg()  # the machine's noise when the run began
SET_SCOPE = sa.text(  # as the unit of work scopes its transaction
    "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true)"
)

# (event type, action, resource type, share in thousandths)
KINDS = [
    ("AUTHENTICATION", "auth.login", "session", 300),
    ("AUTHENTICATION", "auth.refresh", "session", 170),
    ("AUTHENTICATION", "auth.logout", "session", 50),
    ("AUTHORIZATION", "organisation:update", "organisation", 60),
    ("AUTHORIZATION", "member:read", "member", 40),
    ("USER_MANAGEMENT", "member.role_change", "member", 50),
    ("USER_MANAGEMENT", "member.remove", "member", 30),
    ("USER_MANAGEMENT", "user.password_change", "user", 20),
    ("ORGANISATION", "organisation.update", "organisation", 40),
    ("PERMISSION_CHANGE", "role.update", "role", 40),
    ("ROLE_CHANGE", "role.assign", "member", 40),
    ("ROLE_CHANGE", "role.create", "role", 20),
    ("ROLE_CHANGE", "role.delete", "role", 10),
    ("TEAM_MEMBERSHIP", "team.member_add", "team", 40),
    ("TEAM_MEMBERSHIP", "team.member_remove", "team", 20),
    ("INVITATION", "invitation.create", "invitation", 30),
    ("INVITATION", "invitation.accept", "invitation", 20),
    ("CONFIGURATION", "team.create", "team", 10),
    ("CONFIGURATION", "keys.rotate", "signing_key", 5),
    ("CONFIGURATION", "identity.link", "identity_link", 5),
]
assert sum(share for *_, share in KINDS) == 1000


def actor(n: int) -> str:
    return f"usr_{n:024d}"


def resource(kind: str, n: int) -> str:
    return f"{kind[:3]}_{n:024d}"


@dataclass(frozen=True)
class Case:
    name: str
    filters: AuditFilters
    claimed: bool = True  # one of the single filters the issue claims flat


def cases() -> list[Case]:
    year_ago = END - timedelta(days=365)
    return [
        Case("no filter", AuditFilters()),
        Case("from/to, the last 30 days", AuditFilters(since=END - timedelta(days=30), until=END)),
        Case(
            "from/to, 30 days a year ago",
            AuditFilters(since=year_ago - timedelta(days=30), until=year_ago),
        ),
        Case("from only, a year ago", AuditFilters(since=year_ago)),
        Case("to only, a year ago", AuditFilters(until=year_ago)),
        Case("actor_id (1 % of events)", AuditFilters(actor_id=actor(7))),
        Case("event_type CONFIGURATION (2 %)", AuditFilters(event_type=EventType.CONFIGURATION)),
        Case(
            "resource_type + resource_id (0.35 %)",
            AuditFilters(resource_type="role", resource_id=resource("role", 7)),
        ),
        Case("outcome DENIED (3 %)", AuditFilters(outcome=Outcome.DENIED)),
        Case("action role.assign (4 %)", AuditFilters(action="role.assign")),
        Case(
            "resource_type alone, signing_key (0.5 %)",
            AuditFilters(resource_type="signing_key"),
            claimed=False,
        ),
        Case(
            "actor_id + from/to a year ago",
            AuditFilters(actor_id=actor(7), since=year_ago - timedelta(days=30), until=year_ago),
            claimed=False,
        ),
        Case(
            "actor_id + event_type CONFIGURATION",
            AuditFilters(actor_id=actor(7), event_type=EventType.CONFIGURATION),
            claimed=False,
        ),
    ]


# --- the data ---------------------------------------------------------------------------------

FILL = sa.text(
    """
    INSERT INTO audit_events (event_id, org_id, seq, occurred_at, event_type, action,
        actor_id, actor_type, resource_type, resource_id, outcome, reason, details,
        request_id, prev_hash, hash)
    SELECT 'evt_' || substr(md5(g.i::text), 1, 24), :org, g.i,
           :start + (g.i - 1) * make_interval(secs => :step),
           k.event_type, k.action,
           'usr_' || lpad(g.actor::text, 24, '0'), 'USER',
           k.resource_type, left(k.resource_type, 3) || '_' || lpad(g.res::text, 24, '0'),
           g.outcome, CASE WHEN g.outcome = 'SUCCESS' THEN NULL ELSE 'missing_permission' END,
           '{"ip": "203.0.113.7"}'::jsonb,
           'req_' || substr(md5((g.i / 3)::text), 1, 24),
           md5((g.i - 1)::text) || md5((1 - g.i)::text), md5(g.i::text) || md5((-g.i)::text)
    FROM (SELECT i, floor(random() * 1000)::int AS slot,
                 floor(random() * :actors)::int AS actor,
                 floor(random() * :resources)::int AS res,
                 CASE WHEN random() < 0.90 THEN 'SUCCESS'
                      WHEN random() < 0.70 THEN 'FAILURE' ELSE 'DENIED' END AS outcome
          FROM generate_series(1, :n) AS i) AS g
    JOIN bench_kinds k ON k.slot = g.slot
    """
)


def kind_slots() -> list[dict[str, Any]]:
    slots, slot = [], 0
    for event_type, action, resource_type, share in KINDS:
        for _ in range(share):
            slots.append(
                {"slot": slot, "event_type": event_type, "action": action, "rt": resource_type}
            )
            slot += 1
    return slots


def fill(admin: sa.Engine, n: int) -> float:
    """Replace the table's events with `n` of ORG's; seconds it took."""
    began = time.perf_counter()
    with admin.begin() as db:
        db.exec_driver_sql("TRUNCATE audit_events, audit_chains")
        indexes = db.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events'"
            " AND indexname <> 'audit_events_pkey'"
        ).all()
        for name, _ in indexes:
            db.exec_driver_sql(f'DROP INDEX "{name}"')
        db.exec_driver_sql(
            "CREATE TEMP TABLE bench_kinds (slot int PRIMARY KEY, event_type text,"
            " action text, resource_type text) ON COMMIT DROP"
        )
        db.execute(
            sa.text("INSERT INTO bench_kinds VALUES (:slot, :event_type, :action, :rt)"),
            kind_slots(),
        )
        db.exec_driver_sql("SELECT setseed(0.42)")
        step = SPAN.total_seconds() / n
        parameters = {"org": ORG, "start": END - SPAN + timedelta(seconds=step), "step": step}
        parameters |= {"actors": ACTORS, "resources": RESOURCES_PER_TYPE, "n": n}
        db.execute(FILL, parameters)
        for _, definition in indexes:  # the migration's own definitions
            db.exec_driver_sql(definition)
        last = db.execute(
            sa.select(audit_events.c.hash).where(
                audit_events.c.org_id == ORG, audit_events.c.seq == n
            )
        ).scalar_one()
        db.execute(
            audit_chains.insert().values(
                chain_id=ORG,
                org_id=ORG,
                seq=n,
                hash=last,
                latest_at=END,
                archived_seq=0,
                archived_hash=GENESIS,
                start_seq=0,
                start_hash=GENESIS,
            )
        )
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.exec_driver_sql("VACUUM ANALYZE audit_events")
        db.exec_driver_sql("ANALYZE audit_chains")
    return time.perf_counter() - began


# --- the measurements -------------------------------------------------------------------------


@dataclass
class Measured:
    seconds: float  # median of REPEATS
    rows: int
    buffers: int  # shared blocks hit + read
    plan: list[str]
    statements: list[tuple[str, Any]]  # as the store sent them, with their parameters
    worst: tuple[int, list[str]] | None = None  # the costliest plan after a fresh ANALYZE


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The audit SELECTs the store sends while the block runs, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM audit_events" in statement:
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


def measure(store: SqlStore, case: Case) -> Measured:
    query = case.filters.query(ORG, newest_first=True, limit=PAGE + 1)
    samples = []
    for attempt in range(REPEATS + 3):
        with store.unit_of_work(org_id=ORG) as uow:
            began = time.perf_counter()
            found = uow.audit.find(query)
            if attempt >= 3:  # the first calls warm the caches
                samples.append(time.perf_counter() - began)
    with captured(store.engine) as sent, store.unit_of_work(org_id=ORG) as uow:
        uow.audit.find(query)
    buffers, plan = explained_all(store.engine, sent)
    median = statistics.median(samples)
    return Measured(median, len(found), buffers, plan, sent)


def replanned(admin: sa.Engine, store: SqlStore, measured: dict[str, Measured]) -> None:
    """Each statement's costliest plan over REANALYZE fresh samples of the statistics: ANALYZE
    reads a random sample, and a plan chosen on estimates may change with it."""
    for _ in range(REANALYZE):
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.exec_driver_sql("ANALYZE audit_events")
        for result in measured.values():
            buffers, plan = explained_all(store.engine, result.statements)
            if result.worst is None or buffers > result.worst[0]:
                result.worst = (buffers, plan)


def explained_all(engine: sa.Engine, sent: list[tuple[str, Any]]) -> tuple[int, list[str]]:
    """The buffers of every statement one call sent, summed, and their plans in turn (a time
    range first finds its seq bounds, then reads the page between them)."""
    total, plans = 0, []
    for statement, parameters in sent:
        buffers, plan = explained(engine, statement, parameters)
        total += buffers
        plans.extend(["-- then --"] if plans else [])
        plans.extend(plan)
    return total, plans


def explained(engine: sa.Engine, statement: str, parameters: Any) -> tuple[int, list[str]]:
    with engine.connect() as db:
        db.execute(SET_SCOPE, {"org_id": ORG, "user_id": None})
        figures = db.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
        ).scalar_one()
        text = db.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = [row[0] for row in text]
        db.rollback()
    top = figures[0]["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"], trimmed(plan)


# The audit_read policy, as row-level security adds it to every statement's filter.
POLICY = (
    "((org_id)::text = current_setting('app.org_id'::text, true)) OR ((org_id IS NULL) AND"
    " (((actor_id)::text = current_setting('app.user_id'::text, true)) OR"
    " (current_setting('app.user_id'::text, true) = 'system'::text)))"
)


def trimmed(plan: list[str]) -> list[str]:
    """Without the planner's cost estimates and the planning buffers; the policy's long
    filter named rather than spelt out."""
    kept, planning = [], False
    for line in plan:
        if line.strip() == "Planning:":
            planning = True
            continue
        if planning and line.strip().startswith("Buffers:"):
            continue
        planning = False
        line = re.sub(r" ?\(cost=[^)]*\)", "", line)
        kept.append(line.replace(f"({POLICY})", "<audit_read policy>"))
    return kept


def step(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


# --- the report -------------------------------------------------------------------------------


def worst_buffers(result: Measured) -> int:
    return max(result.buffers, result.worst[0] if result.worst else 0)


def flat_verdict(small: Measured, large: Measured) -> str:
    # On buffers, which the machine's noise leaves alone; milliseconds here are mostly Python.
    flat = worst_buffers(large) <= 4 * max(worst_buffers(small), 25)
    return "flat" if flat else "**NOT flat**"


def table(results: dict[int, dict[str, Measured]], fills: dict[int, float]) -> list[str]:
    small, large = SIZES
    lines = [
        f"| filter | rows | ms at {small:,} | ms at {large:,} | ratio | buffers at {small:,}"
        f" (worst) | buffers at {large:,} (worst) | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in cases():
        a, b = results[small][case.name], results[large][case.name]
        name = case.name if case.claimed else f"{case.name} (beyond the claim)"
        lines.append(
            f"| {name} | {a.rows} / {b.rows} | {a.seconds * 1e3:.2f} | {b.seconds * 1e3:.2f}"
            f" | **{b.seconds / a.seconds:.2f}** | {a.buffers} ({worst_buffers(a)})"
            f" | {b.buffers} ({worst_buffers(b)}) | {flat_verdict(a, b)} |"
        )
    filled = ", ".join(f"{n:,} in {s:.0f} s" for n, s in fills.items())
    return [*lines, "", f"Filling took {filled} (load, indexes, VACUUM ANALYZE)."]


def plans(results: dict[str, Measured]) -> list[str]:
    lines = [
        f"Plans at {SIZES[-1]:,} events (`EXPLAIN (ANALYZE, BUFFERS)` of the store's statements,"
        " costs cut; a time range first finds its seq bounds, then reads the page):",
        "",
    ]
    for case in cases():
        result = results[case.name]
        lines += [f"*{case.name}*", "", "```", *result.plan, "```", ""]
        if result.worst is not None and result.worst[0] > 4 * max(result.buffers, 25):
            lines += [
                "After another ANALYZE the planner chose this instead:",
                "",
                "```",
                *result.worst[1],
                "```",
                "",
            ]
    return lines


def section(
    results: dict[int, dict[str, Measured]], fills: dict[int, float], description: str
) -> list[str]:
    return [
        "Written by `.venv/bin/python benchmarks/audit_queries.py`: the first page (50 events",
        "and one more) of `GET /v1/organisations/{org}/audit-events`, newest first, as the",
        "service asks the store (`uow.audit.find`, runtime role, row-level security on), at",
        f"{SIZES[0]:,} and at {SIZES[1]:,} events of one organisation spread over two years;",
        f"medians of {REPEATS} calls after warm-up, with the shared buffers its statements",
        "touched (a time range adds a primary-key read of the chain's head, not counted, and",
        "one statement that finds its seq bounds, counted), a count the machine's noise does",
        "not change (the milliseconds are mostly Python: the statements themselves run in a",
        "fraction of a millisecond when their plans are right). *worst* is the costliest plan",
        "the same statements got over",
        f"{REANALYZE} further ANALYZEs (each reads a fresh random sample). *rows* is the page's",
        "size at each scale. A filter is called flat when its worst buffers at the large size",
        "stay within four times those at the small one (or 100).",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()},",
        f"{platform.system()}, {datetime.now(UTC):%Y-%m-%d}; load average {LOAD[0]:.1f} at the",
        f"start, {os.getloadavg()[0]:.1f} at the end; {description}.",
        "",
        *table(results, fills),
        "",
        *plans(results[SIZES[-1]]),
    ]


def main() -> None:
    results: dict[int, dict[str, Measured]] = {}
    fills: dict[int, float] = {}
    with postgres_database() as pg:
        urls = pg.urls
        admin_url = sa.make_url(urls.admin_url).set(database=urls.database)
        admin = sa.create_engine(admin_url)
        store = SqlStore(urls.runtime_url)
        try:
            for n in SIZES:
                step(f"filling {n:,} events")
                fills[n] = fill(admin, n)
                step(f"filled in {fills[n]:.1f} s; querying")
                results[n] = {case.name: measure(store, case) for case in cases()}
                replanned(admin, store, results[n])
        finally:
            store.dispose()
            admin.dispose()
    lines = section(results, fills, pg.description)
    replace_section("audit_queries.py", "Audit queries from 10 k to 1 M events", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
