"""AuditRepository: an appended draft becomes an event of its unit of work's request, placed
on its organisation's hash chain (or the system chain) when the unit of work commits; `find`
reads one chain in `seq` order with every filter; the archive's mark moves only from where it
was, and only archived events are pruned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tenantry.audit.ports import AuditQuery, ChainState
from tenantry.audit.service import verify_chain
from tenantry.domain.audit import AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import GENESIS, NO_ANCHOR, SYSTEM_CHAIN, Anchor, ChainHead
from tenantry.domain.errors import Conflict
from tenantry.domain.ids import new_id
from tenantry.domain.principal import SYSTEM
from tenantry.store.open import Store
from tests.contract.builders import AT, make_draft, minutes
from tests.contract.steps import committed, present, read, refused

OPERATOR = SYSTEM.user_id  # PostgreSQL shows the operator every chain and the system chain


def _append(store: Store, *drafts: tuple[AuditDraft, int], request_id: str | None = None) -> None:
    """Append each draft at AT plus its minutes, in one unit of work scoped as the first
    draft's (PostgreSQL lets a unit of work append events of its own organisation only)."""
    first, _ = drafts[0]
    with store.unit_of_work(
        org_id=first.org_id, user_id=first.actor_id, request_id=request_id
    ) as uow:
        for draft, offset in drafts:
            uow.audit.append(draft, at=AT + minutes(offset))
        uow.commit()


def _append_apart(store: Store, *drafts: tuple[AuditDraft, int]) -> None:
    """Each draft in a unit of work (and commit) of its own."""
    for draft in drafts:
        _append(store, draft)


def _find(store: Store, query: AuditQuery) -> list[AuditEvent]:
    with store.unit_of_work(org_id=query.org_id, user_id=OPERATOR) as uow:
        return uow.audit.find(query)


def _chain(store: Store, org_id: str | None) -> ChainState | None:
    return read(store, lambda uow: uow.audit.chain(org_id), org_id=org_id, user_id=OPERATOR)


def _events(store: Store, org_id: str) -> list[AuditEvent]:
    return _find(store, AuditQuery(org_id=org_id, limit=1000))


def _anchor(event: AuditEvent) -> Anchor:
    return Anchor(present(event.seq), present(event.hash))


def _chain_of(store: Store, length: int) -> tuple[str, list[AuditEvent]]:
    """A new organisation's chain of `length` events, one commit each, a minute apart."""
    draft = make_draft(org_id=new_id("org"))
    _append_apart(store, *[(replace(draft, action=f"step.{n}"), n) for n in range(length)])
    assert draft.org_id is not None
    return draft.org_id, _events(store, draft.org_id)


# --- appending: a draft becomes a chained event at commit ----------------------------------


def test_an_appended_draft_becomes_the_first_event_of_its_organisations_chain(
    store: Store,
) -> None:
    draft = make_draft(org_id=new_id("org"), reason="renamed")
    _append(store, (draft, 0), request_id="req-contract-1")
    [event] = _find(store, AuditQuery(org_id=draft.org_id, actor_id=draft.actor_id))
    assert event.event_id.startswith("evt_")
    assert event == AuditEvent(
        event_id=event.event_id,
        org_id=draft.org_id,
        occurred_at=AT,
        event_type=draft.event_type,
        action=draft.action,
        outcome=draft.outcome,
        actor_id=draft.actor_id,
        actor_type=draft.actor_type,
        resource_type=draft.resource_type,
        resource_id=draft.resource_id,
        reason="renamed",
        details=draft.details,
        request_id="req-contract-1",
        seq=1,
        prev_hash=GENESIS,
        hash=event.hash,
    )
    assert len(present(event.hash)) == 64
    assert event.hash != GENESIS


def test_overlong_resource_and_reason_are_clipped_to_their_columns(store: Store) -> None:
    draft = make_draft(
        org_id=new_id("org"), resource_type="t" * 50, resource_id="i" * 150, reason="r" * 250
    )
    _append(store, (draft, 0))
    [event] = _find(store, AuditQuery(org_id=draft.org_id, actor_id=draft.actor_id))
    assert (event.resource_type, event.resource_id, event.reason) == (
        "t" * 40,
        "i" * 100,
        "r" * 200,
    )


def test_each_commit_continues_the_chain_where_the_last_one_ended(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    _append(store, (replace(draft, action="step.0"), 0), (replace(draft, action="step.1"), 1))
    _append(store, (replace(draft, action="step.2"), 2))

    found = _find(store, AuditQuery(org_id=draft.org_id))

    assert [(e.seq, e.action) for e in found] == [(1, "step.0"), (2, "step.1"), (3, "step.2")]
    assert [e.prev_hash for e in found] == [GENESIS, found[0].hash, found[1].hash]
    assert len({e.hash for e in found}) == 3


def test_events_are_found_in_seq_order_which_is_the_order_of_appending(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    # Stamped in decreasing time: the chain's order is still the order they were appended in.
    _append(store, *[(replace(draft, action=f"step.{n}"), 5 - n) for n in range(5)])
    found = _find(store, AuditQuery(org_id=draft.org_id, limit=3))
    assert [(e.seq, e.action) for e in found] == [(1, "step.0"), (2, "step.1"), (3, "step.2")]


def test_newest_first_reverses_the_seq_order_before_the_limit(store: Store) -> None:
    org_id, _ = _chain_of(store, 5)

    found = _find(store, AuditQuery(org_id=org_id, newest_first=True, limit=3))

    assert [e.seq for e in found] == [5, 4, 3]


def test_each_event_keeps_its_time_and_a_time_range_finds_it_though_a_clock_ran_back(
    store: Store,
) -> None:
    draft = make_draft(org_id=new_id("org"))
    # In one commit, then across commits: events stamped before the chain's latest one.
    _append(store, (replace(draft, action="a"), 5), (replace(draft, action="b"), 2))
    _append(store, (replace(draft, action="c"), 1))
    _append(store, (replace(draft, action="d"), 7))

    found = _find(store, AuditQuery(org_id=draft.org_id))
    early = _find(store, AuditQuery(org_id=draft.org_id, until=AT + minutes(3)))
    late = _find(store, AuditQuery(org_id=draft.org_id, since=AT + minutes(3), newest_first=True))
    middle = _find(
        store, AuditQuery(org_id=draft.org_id, since=AT + minutes(2), until=AT + minutes(6))
    )

    assert [(e.action, e.occurred_at) for e in found] == [
        ("a", AT + minutes(5)),
        ("b", AT + minutes(2)),
        ("c", AT + minutes(1)),
        ("d", AT + minutes(7)),
    ]
    assert [e.action for e in early] == ["b", "c"]
    assert [e.action for e in late] == ["d", "a"]
    assert [e.action for e in middle] == ["a", "b"]
    head = present(_chain(store, draft.org_id)).head
    assert (head.latest_at, head.backstep) == (AT + minutes(7), minutes(4))


def test_a_commit_that_is_refused_or_never_made_takes_no_seq(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    with store.unit_of_work(org_id=draft.org_id) as uow:
        uow.audit.append(replace(draft, action="dropped.by_rollback"), at=AT)
        uow.rollback()
    with store.unit_of_work(org_id=draft.org_id) as uow:
        uow.audit.append(replace(draft, action="dropped.without_commit"), at=AT)
    # The archive's mark of a chain that does not exist cannot move: the whole commit fails.
    refused(
        store,
        lambda uow: uow.audit.append(replace(draft, action="dropped.by_conflict"), at=AT),
        lambda uow: uow.audit.mark_archived(draft.org_id, was=Anchor(1, GENESIS), now=NO_ANCHOR),
        org_id=draft.org_id,
    )

    _append(store, (replace(draft, action="kept"), 1))

    assert [(e.seq, e.action, e.prev_hash) for e in _events(store, present(draft.org_id))] == [
        (1, "kept", GENESIS)
    ]


def test_a_unit_of_work_appends_again_after_a_rollback(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    with store.unit_of_work(org_id=draft.org_id) as uow:
        uow.audit.append(replace(draft, action="dropped"), at=AT)
        uow.rollback()
        uow.audit.append(replace(draft, action="kept"), at=AT)
        uow.commit()

    assert [(e.seq, e.action) for e in _events(store, present(draft.org_id))] == [(1, "kept")]


@pytest.mark.races
def test_racing_commits_to_one_chain_all_land_in_one_gapless_chain(store: Store) -> None:
    """Eight writers append to one organisation's chain at once (a first event among them):
    each event takes its own seq, none is lost, and the chain verifies."""
    org_id = new_id("org")

    def append(n: int) -> None:
        _append(store, (make_draft(org_id=org_id, action=f"race.{n}"), n))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(8)))

    events = _events(store, org_id)
    assert [event.seq for event in events] == list(range(1, 9))
    assert sorted(event.action for event in events) == sorted(f"race.{n}" for n in range(8))
    state = present(_chain(store, org_id))
    assert (state.head.seq, state.head.hash) == (8, events[-1].hash)
    with store.unit_of_work(org_id=org_id, user_id=OPERATOR) as uow:
        assert verify_chain(uow, org_id).ok


# --- the system chain, and two chains in one unit of work ----------------------------------


def test_an_event_of_no_organisation_goes_on_the_system_chain(store: Store) -> None:
    before = _chain(store, None)
    draft = make_draft(org_id=None, actor_id=new_id("usr"), action="user.login")

    _append(store, (draft, 0))

    [event] = _find(store, AuditQuery(org_id=None, actor_id=draft.actor_id))
    after = present(_chain(store, None))
    last_seq, last_hash = (before.head.seq, before.head.hash) if before else (0, GENESIS)
    assert (event.org_id, event.seq, event.prev_hash) == (None, last_seq + 1, last_hash)
    assert (after.org_id, after.head.chain_id) == (None, SYSTEM_CHAIN)
    assert (after.head.seq, after.head.hash) == (event.seq, event.hash)


def test_one_unit_of_work_appends_to_its_organisations_chain_and_the_system_chain(
    store: Store,
) -> None:
    org_id, actor = new_id("org"), new_id("usr")
    system_before = _chain(store, None)
    org_event = make_draft(org_id=org_id, actor_id=actor, action="member.add")
    system_event = make_draft(org_id=None, actor_id=actor, action="user.update")
    with store.unit_of_work(org_id=org_id, user_id=actor) as uow:
        uow.audit.append(system_event, at=AT)
        uow.audit.append(org_event, at=AT)
        uow.audit.append(replace(system_event, action="user.verify"), at=AT)
        uow.commit()

    in_org = _find(store, AuditQuery(org_id=org_id))
    in_system = _find(store, AuditQuery(org_id=None, actor_id=actor))

    assert [(e.seq, e.action) for e in in_org] == [(1, "member.add")]
    start = system_before.head.seq if system_before else 0
    assert [(e.seq, e.action) for e in in_system] == [
        (start + 1, "user.update"),
        (start + 2, "user.verify"),
    ]
    assert in_system[1].prev_hash == in_system[0].hash
    assert present(_chain(store, None)).head.seq == start + 2
    assert present(_chain(store, org_id)).head.seq == 1


# --- find: every filter --------------------------------------------------------------------

FILTERS = ["actor_id", "event_type", "resource_type", "resource_id", "action", "outcome"]


def _variants(base: AuditDraft) -> dict[str, AuditDraft]:
    """For each filter, the base event with only that field different."""
    return {
        "actor_id": replace(base, actor_id=new_id("usr")),
        "event_type": replace(base, event_type=EventType.ROLE_CHANGE),
        "resource_type": replace(base, resource_type="role"),
        "resource_id": replace(base, resource_id=new_id("team")),
        "action": replace(base, action="team.delete"),
        "outcome": replace(base, outcome=Outcome.DENIED),
    }


def _given_variants(store: Store) -> AuditDraft:
    """The base event (request `req-base`), each variant, and the base again from another
    request; `details` names which is which."""
    base = make_draft(
        org_id=new_id("org"),
        event_type=EventType.TEAM_MEMBERSHIP,
        action="team.create",
        resource_type="team",
        resource_id=new_id("team"),
        outcome=Outcome.SUCCESS,
    )
    _append(store, (replace(base, details={"is": "base"}), 0), request_id="req-base")
    for n, (name, variant) in enumerate(_variants(base).items(), start=1):
        _append(store, (replace(variant, details={"is": name}), n), request_id="req-base")
    _append(store, (replace(base, details={"is": "request_id"}), 9), request_id="req-other")
    return base


def _which(found: list[AuditEvent]) -> list[str]:
    return [event.details["is"] for event in found]


@pytest.mark.parametrize("name", FILTERS)
def test_find_by_one_filter_leaves_out_only_the_event_that_differs_in_it(
    store: Store, name: str
) -> None:
    base = _given_variants(store)

    found = _find(store, AuditQuery(org_id=base.org_id, **{name: getattr(base, name)}))

    everyone = ["base", *FILTERS, "request_id"]
    assert _which(found) == [which for which in everyone if which != name]


def test_find_by_the_request_that_recorded_the_events(store: Store) -> None:
    base = _given_variants(store)

    found = _find(store, AuditQuery(org_id=base.org_id, request_id="req-other"))

    assert [(e.details["is"], e.request_id) for e in found] == [("request_id", "req-other")]


def test_find_with_every_filter_finds_only_the_event_that_matches_them_all(
    store: Store,
) -> None:
    base = _given_variants(store)
    filters = {name: getattr(base, name) for name in FILTERS}

    found = _find(store, AuditQuery(org_id=base.org_id, request_id="req-base", **filters))

    assert _which(found) == ["base"]


def test_find_reads_only_the_chain_it_names(store: Store) -> None:
    actor = new_id("usr")
    account_event = make_draft(org_id=None, actor_id=actor, action="user.login")
    _append(store, (account_event, 0))
    _append(store, (replace(account_event, org_id=new_id("org"), action="org.update"), 1))

    found = _find(store, AuditQuery(org_id=None, actor_id=actor))

    assert [(event.org_id, event.action) for event in found] == [(None, "user.login")]


def test_since_is_inclusive_and_until_exclusive(store: Store) -> None:
    org_id, _ = _chain_of(store, 5)  # at AT + 0..4 minutes

    def seqs(since: datetime | None = None, until: datetime | None = None) -> list[int | None]:
        return [e.seq for e in _find(store, AuditQuery(org_id=org_id, since=since, until=until))]

    assert seqs(since=AT + minutes(1), until=AT + minutes(3)) == [2, 3]
    assert seqs(since=AT + minutes(3)) == [4, 5]
    assert seqs(until=AT + minutes(1)) == [1]
    assert seqs(since=AT + minutes(5)) == []
    assert seqs(until=AT) == []


def test_a_time_range_reads_newest_first_up_to_the_limit_with_other_filters(
    store: Store,
) -> None:
    draft = make_draft(org_id=new_id("org"))
    _append_apart(
        store,
        *[(replace(draft, action="even" if n % 2 == 0 else "odd"), n) for n in range(8)],
    )

    found = _find(
        store,
        AuditQuery(
            org_id=draft.org_id,
            action="even",
            since=AT + minutes(1),
            until=AT + minutes(7),
            newest_first=True,
            limit=2,
        ),
    )

    assert [(e.seq, e.occurred_at) for e in found] == [(7, AT + minutes(6)), (5, AT + minutes(4))]


def test_seq_bounds_are_exclusive_in_either_order(store: Store) -> None:
    org_id, _ = _chain_of(store, 5)

    forwards = _find(store, AuditQuery(org_id=org_id, after_seq=1, before_seq=4))
    backwards = _find(store, AuditQuery(org_id=org_id, before_seq=4, newest_first=True))

    assert [e.seq for e in forwards] == [2, 3]
    assert [e.seq for e in backwards] == [3, 2, 1]
    assert _find(store, AuditQuery(org_id=org_id, after_seq=5)) == []


# --- get, chain, chains --------------------------------------------------------------------


def test_get_finds_an_event_in_its_own_chain_only(store: Store) -> None:
    org_id, [event] = _chain_of(store, 1)
    other_org = new_id("org")

    def get(chain: str | None, event_id: str) -> AuditEvent | None:
        return read(
            store, lambda uow: uow.audit.get(chain, event_id), org_id=chain, user_id=OPERATOR
        )

    assert get(org_id, event.event_id) == event
    assert get(other_org, event.event_id) is None
    assert get(None, event.event_id) is None
    assert get(org_id, new_id("evt")) is None


def test_get_finds_an_event_of_the_system_chain(store: Store) -> None:
    draft = make_draft(org_id=None, actor_id=new_id("usr"))
    _append(store, (draft, 0))
    [event] = _find(store, AuditQuery(org_id=None, actor_id=draft.actor_id))

    found = read(store, lambda uow: uow.audit.get(None, event.event_id), user_id=OPERATOR)

    assert found == event


def test_a_chain_is_unknown_until_its_first_event(store: Store) -> None:
    assert _chain(store, new_id("org")) is None


def test_a_chains_head_is_its_last_event(store: Store) -> None:
    org_id, events = _chain_of(store, 3)
    last = events[-1]

    assert _chain(store, org_id) == ChainState(
        org_id=org_id,
        head=ChainHead(org_id, 3, present(last.hash), last.occurred_at, timedelta(0)),
        archived=NO_ANCHOR,
        start=NO_ANCHOR,
    )


def test_chains_lists_every_chain_by_chain_id(store: Store) -> None:
    first, _ = _chain_of(store, 2)
    second, _ = _chain_of(store, 1)

    listed = read(store, lambda uow: uow.audit.chains(), user_id=OPERATOR)

    ids = [state.head.chain_id for state in listed]
    assert ids == sorted(ids)
    mine = {state.org_id: state for state in listed if state.org_id in (first, second)}
    assert mine == {first: _chain(store, first), second: _chain(store, second)}
    assert (mine[first].head.seq, mine[second].head.seq) == (2, 1)


# --- the archive's mark and pruning --------------------------------------------------------


def test_the_archive_mark_moves_from_where_it_was(store: Store) -> None:
    org_id, events = _chain_of(store, 3)
    to_two = _anchor(events[1])

    committed(
        store, lambda uow: uow.audit.mark_archived(org_id, was=NO_ANCHOR, now=to_two), org_id=org_id
    )

    state = present(_chain(store, org_id))
    assert (state.archived, state.start) == (to_two, NO_ANCHOR)
    assert state.head.seq == 3


@pytest.mark.parametrize("stale", ["seq", "hash"])
def test_the_archive_mark_does_not_move_from_elsewhere(store: Store, stale: str) -> None:
    org_id, events = _chain_of(store, 3)
    mark = _anchor(events[0])
    committed(
        store, lambda uow: uow.audit.mark_archived(org_id, was=NO_ANCHOR, now=mark), org_id=org_id
    )
    elsewhere = replace(mark, seq=2) if stale == "seq" else replace(mark, hash="f" * 64)

    error = refused(
        store,
        lambda uow: uow.audit.mark_archived(org_id, was=elsewhere, now=_anchor(events[2])),
        org_id=org_id,
    )

    assert isinstance(error, Conflict)
    assert error.code == "archive_moved"
    assert present(_chain(store, org_id)).archived == mark


def test_the_archive_mark_of_a_chain_without_events_does_not_move(store: Store) -> None:
    org_id = new_id("org")

    error = refused(
        store,
        lambda uow: uow.audit.mark_archived(org_id, was=NO_ANCHOR, now=Anchor(1, "a" * 64)),
        org_id=org_id,
    )

    assert (type(error), error.code) == (Conflict, "archive_moved")
    assert _chain(store, org_id) is None


def _archived(store: Store, length: int, through: int) -> tuple[str, list[AuditEvent]]:
    org_id, events = _chain_of(store, length)
    mark = _anchor(events[through - 1])
    committed(
        store, lambda uow: uow.audit.mark_archived(org_id, was=NO_ANCHOR, now=mark), org_id=org_id
    )
    return org_id, events


def test_pruning_deletes_archived_events_and_the_chain_starts_after_them(store: Store) -> None:
    org_id, events = _archived(store, 5, through=3)
    through = _anchor(events[1])

    committed(store, lambda uow: uow.audit.prune(org_id, through=through), org_id=org_id)

    assert [e.seq for e in _events(store, org_id)] == [3, 4, 5]
    state = present(_chain(store, org_id))
    assert (state.start, state.archived, state.head.seq) == (through, _anchor(events[2]), 5)
    assert read(store, lambda uow: uow.audit.get(org_id, events[0].event_id), org_id=org_id) is None


def test_pruning_up_to_the_archive_mark_itself_is_allowed(store: Store) -> None:
    org_id, events = _archived(store, 4, through=3)

    committed(store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[2])), org_id=org_id)

    assert [e.seq for e in _events(store, org_id)] == [4]


def test_pruning_beyond_the_archive_is_refused_and_deletes_nothing(store: Store) -> None:
    org_id, events = _archived(store, 5, through=2)

    error = refused(
        store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[2])), org_id=org_id
    )

    assert (type(error), error.code) == (Conflict, "not_archived")
    assert _events(store, org_id) == events
    assert present(_chain(store, org_id)).start == NO_ANCHOR


def test_pruning_a_chain_never_archived_is_refused(store: Store) -> None:
    org_id, events = _chain_of(store, 2)

    error = refused(
        store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[0])), org_id=org_id
    )

    assert error.code == "not_archived"
    assert _events(store, org_id) == events


def test_pruning_behind_the_chains_start_is_refused(store: Store) -> None:
    org_id, events = _archived(store, 5, through=4)
    committed(store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[2])), org_id=org_id)

    error = refused(
        store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[0])), org_id=org_id
    )

    assert error.code == "not_archived"
    assert present(_chain(store, org_id)).start == _anchor(events[2])


def test_a_pruned_chain_grows_on_from_its_head_and_still_verifies(store: Store) -> None:
    org_id, events = _archived(store, 4, through=2)
    committed(store, lambda uow: uow.audit.prune(org_id, through=_anchor(events[1])), org_id=org_id)

    _append(store, (make_draft(org_id=org_id, action="after.pruning"), 10))

    stored = _events(store, org_id)
    assert [(e.seq, e.action) for e in stored[-1:]] == [(5, "after.pruning")]
    assert stored[-1].prev_hash == events[-1].hash
    report = read(store, lambda uow: verify_chain(uow, org_id), org_id=org_id, user_id=OPERATOR)
    assert (report.ok, report.checked, report.start_seq, report.head_seq) == (True, 3, 2, 5)
