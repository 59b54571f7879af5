"""Every filter of the audit log, alone and combined, against a brute-force filter.

Hypothesis makes an organisation's log through the real port (drafts appended with
`uow.audit.append` in a few units of work, at times in any order, as clocks that run back
would stamp them), reads the chain back once, unfiltered, and then asks the
service behind `GET .../audit-events` (`list_events`, as the operator) for random filter
combinations and page sizes, following the cursor to the end. What the pages hold, in order,
must be exactly the stored events that a plain Python filter keeps, newest first. On the
memory store, SQLite and PostgreSQL; one organisation per example.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantry.audit.service import AuditFilters, list_events
from tenantry.domain.audit import AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.errors import Invalid
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tenantry.store.memory import MemoryStore
from tenantry.store.open import Store
from tests.audit_builders import appended, stored_chain
from tests.contract.builders import make_org
from tests.harness import TestClock, copy_sqlite, postgres_target, sql_store

BASE = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
ACTORS = ("usr_ada", "usr_bob", None)
TYPES = (EventType.ROLE_CHANGE, EventType.AUTHORIZATION, EventType.TEAM_MEMBERSHIP)
RESOURCES = (("role", "rol_one"), ("role", "rol_two"), ("team", "rol_one"), (None, None))
ACTIONS = ("role.create", "role.assign", "team.member_add")
ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8)))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "audit.db")
        else:
            url = postgres_target(request.getfixturevalue("migrated_postgres")).url
        yield stack.enter_context(sql_store(url))


def draft(org_id: str) -> st.SearchStrategy[tuple[AuditDraft, datetime]]:
    """A draft of any actor, type, resource, outcome and action, at a time in the hour."""
    resource = st.sampled_from(RESOURCES)
    return st.builds(
        lambda actor, kind, on, outcome, action, seconds: (
            AuditDraft(
                event_type=kind,
                action=action,
                outcome=outcome,
                org_id=org_id,
                actor_id=actor,
                resource_type=on[0],
                resource_id=on[1],
            ),
            BASE + timedelta(seconds=seconds),
        ),
        st.sampled_from(ACTORS),
        st.sampled_from(TYPES),
        resource,
        st.sampled_from(Outcome),
        st.sampled_from(ACTIONS),
        st.floats(0, 3600, allow_nan=False).map(lambda s: round(s, 6)),
    )


def batches(org_id: str) -> st.SearchStrategy[list[list[tuple[AuditDraft, datetime]]]]:
    """What a few units of work append, each its own list."""
    return st.lists(st.lists(draft(org_id), min_size=1, max_size=12), min_size=1, max_size=4)


@st.composite
def moments(draw: st.DrawFn, stored: list[AuditEvent]) -> datetime:
    """A bound: an event's own time (to the microsecond), just after one, or any time
    around the hour; in one of a few time zones."""
    around = st.floats(-60, 3700, allow_nan=False).map(lambda s: BASE + timedelta(seconds=s))
    if stored:
        times = st.sampled_from([event.occurred_at for event in stored])
        around = times | times.map(lambda t: t + timedelta(microseconds=1)) | around
    return draw(around).astimezone(draw(st.sampled_from(ZONES)))


# What each filter may ask for: the values events are made of, and one none of them has.
POOLS: dict[str, tuple[object, ...]] = {
    "actor_id": ("usr_ada", "usr_bob", "usr_nobody"),
    "event_type": (*TYPES, EventType.INVITATION),
    "resource_type": ("role", "team", "audit"),
    "resource_id": ("rol_one", "rol_two", "rol_three"),
    "outcome": tuple(Outcome),
    "action": (*ACTIONS, "role.delete"),
}
BOUNDS = ("since", "until")


@st.composite
def filters(draw: st.DrawFn, stored: list[AuditEvent]) -> AuditFilters:
    """Up to four filters at once, each asking for a value some stored event holds, or any
    value of its pool (which may be held by none)."""
    chosen = draw(st.sets(st.sampled_from((*BOUNDS, *POOLS)), max_size=4))
    values: dict[str, Any] = {}
    for name in sorted(chosen):
        if name in BOUNDS:
            values[name] = draw(moments(stored))
            continue
        held = [value for e in stored if (value := getattr(e, name)) is not None]
        values[name] = draw(st.sampled_from(held or POOLS[name]) | st.sampled_from(POOLS[name]))
    return replace(AuditFilters(), **values)


def kept(event: AuditEvent, wanted: AuditFilters) -> bool:
    """The brute force: every filter given holds for the stored event."""
    fields = ("actor_id", "event_type", "resource_type", "resource_id", "outcome", "action")
    return (
        all(getattr(wanted, f) in (None, getattr(event, f)) for f in fields)
        and (wanted.since is None or event.occurred_at >= wanted.since)
        and (wanted.until is None or event.occurred_at < wanted.until)
    )


@dataclass
class Walk:
    pages: list[list[AuditEvent]]

    @property
    def events(self) -> list[AuditEvent]:
        return [event for page in self.pages for event in page]


def walk(store: Store, org_id: str, wanted: AuditFilters, limit: int) -> Walk:
    """Every page of the listing, each in a unit of work of its own, cursor to the end."""
    found: list[list[AuditEvent]] = []
    cursor: str | None = None
    while True:
        page = run_use_case(
            store.unit_of_work,
            lambda uow: list_events(uow, SYSTEM, org_id, wanted, limit=limit, cursor=cursor),
            clock=TestClock(BASE),
            org_id=org_id,
        )
        found.append(page.items)
        if (cursor := page.next_cursor) is None:
            return Walk(found)


def an_organisation(store: Store) -> str:
    """An organisation of its own for one example (the operator's reads need it to exist)."""
    org = make_org()
    with store.unit_of_work(org_id=org.id) as uow:
        uow.organisations.add(org)
        uow.commit()
    return org.id


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_pages_hold_exactly_what_a_brute_force_filter_keeps(
    store: Store, data: st.DataObject
) -> None:
    org_id = an_organisation(store)
    for batch in data.draw(batches(org_id), label="units of work"):
        appended(store, org_id, batch)
    stored = stored_chain(store, org_id)

    for _ in range(3):
        wanted = data.draw(filters(stored), label="filters")
        limit = data.draw(st.integers(1, 6), label="limit")
        if wanted.since is not None and wanted.until is not None and wanted.since >= wanted.until:
            with pytest.raises(Invalid) as refused:
                walk(store, org_id, wanted, limit)
            assert refused.value.code == "invalid_time_range"
            continue
        found = walk(store, org_id, wanted, limit)

        assert found.events == [event for event in reversed(stored) if kept(event, wanted)]
        assert all(len(page) == limit for page in found.pages[:-1])
        assert found.pages[-1] or len(found.pages) == 1  # no empty page after a cursor


def test_the_stored_chain_keeps_times_that_run_backwards(store: Store) -> None:
    # What the brute force relies on: appended out of order, each event keeps its own time.
    org_id = an_organisation(store)
    late, early = BASE + timedelta(minutes=5), BASE
    base = AuditDraft(
        event_type=TYPES[0], action=ACTIONS[0], outcome=Outcome.SUCCESS, org_id=org_id
    )
    appended(store, org_id, [(base, late), (base, early)])
    appended(store, org_id, [(base, early)])

    stored = stored_chain(store, org_id)

    assert [(event.seq, event.occurred_at) for event in stored] == [
        (1, late),
        (2, early),
        (3, early),
    ]
