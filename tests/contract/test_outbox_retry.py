"""OutboxRepository, the operator's side: the entries backing off (`waiting`), the dead letters
(`dead`), `make_due` with its precondition, and a claim that hands leased entries back.

The PostgreSQL outbox is shared with other tests, whose entries are due years after these
(OUTBOX_AT is in 2001): the lists are read soonest first and filtered to this test's ids.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.model import OutboxEntry, OutboxStatus
from tenantry.store.open import Store
from tests.contract.builders import OUTBOX_AT, minutes
from tests.contract.steps import committed, due, given_entry, present, read, refused


def failed(
    store: Store, entry: OutboxEntry, *, attempts: int, retry_at: datetime, dead: bool = False
) -> OutboxEntry:
    """`entry` after a failed attempt, as stored."""
    committed(
        store,
        lambda uow: uow.outbox.mark_failed(
            entry.id, attempts=attempts, next_attempt_at=retry_at, error="451 later", dead=dead
        ),
    )
    return stored(store, entry.id)


def stored(store: Store, entry_id: str) -> OutboxEntry:
    return present(read(store, lambda uow: uow.outbox.get(entry_id)))


def waiting(store: Store, after: datetime, limit: int = 100) -> list[str]:
    return [entry.id for entry in read(store, lambda uow: uow.outbox.waiting(after, limit=limit))]


def dead(store: Store, limit: int = 100) -> list[str]:
    return [entry.id for entry in read(store, lambda uow: uow.outbox.dead(limit=limit))]


def only(ids: list[str], *entries: OutboxEntry) -> list[str]:
    mine = {entry.id for entry in entries}
    return [entry_id for entry_id in ids if entry_id in mine]


def test_waiting_lists_the_entries_backing_off_after_a_time_soonest_first(store: Store) -> None:
    later = failed(store, given_entry(store), attempts=2, retry_at=OUTBOX_AT + minutes(40))
    sooner = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT + minutes(20))
    due_soon = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT + minutes(5))

    after = OUTBOX_AT + minutes(10)
    assert only(waiting(store, after), later, sooner, due_soon) == [sooner.id, later.id]
    assert waiting(store, after, limit=1) == [sooner.id]


def test_waiting_leaves_out_entries_never_tried_dead_or_sent(store: Store) -> None:
    claimed = given_entry(store)  # leased, but not tried yet: its dispatcher may be sending it
    committed(store, lambda uow: uow.outbox.claim([claimed], until=OUTBOX_AT + minutes(30)))
    given_up = failed(
        store, given_entry(store), attempts=3, retry_at=OUTBOX_AT + minutes(30), dead=True
    )
    sent = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT + minutes(30))
    committed(store, lambda uow: uow.outbox.mark_sent(sent.id, at=OUTBOX_AT))

    assert only(waiting(store, OUTBOX_AT), claimed, given_up, sent) == []


def test_dead_lists_the_dead_letters_in_the_order_they_died(store: Store) -> None:
    second = failed(
        store, given_entry(store), attempts=3, retry_at=OUTBOX_AT + minutes(2), dead=True
    )
    first = failed(
        store, given_entry(store), attempts=3, retry_at=OUTBOX_AT + minutes(1), dead=True
    )
    backing_off = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT)

    assert only(dead(store), first, second, backing_off) == [first.id, second.id]
    assert dead(store, limit=1) == [first.id]


def test_an_entry_backing_off_made_due_starts_again_with_its_error_kept(store: Store) -> None:
    entry = failed(store, given_entry(store), attempts=4, retry_at=OUTBOX_AT + minutes(60))

    committed(store, lambda uow: uow.outbox.make_due(entry, at=OUTBOX_AT + minutes(1)))

    retried = stored(store, entry.id)
    assert (retried.status, retried.attempts, retried.next_attempt_at) == (
        OutboxStatus.PENDING,
        0,
        OUTBOX_AT + minutes(1),
    )
    assert retried.last_error == "451 later"
    assert retried.message == entry.message
    assert entry.id in [found.id for found in due(store, OUTBOX_AT + minutes(1))]


def test_a_dead_entry_made_due_is_pending_again_with_its_message(store: Store) -> None:
    entry = failed(
        store, given_entry(store), attempts=8, retry_at=OUTBOX_AT + minutes(60), dead=True
    )

    committed(store, lambda uow: uow.outbox.make_due(entry, at=OUTBOX_AT + minutes(90)))

    [revived] = [found for found in due(store, OUTBOX_AT + minutes(90)) if found.id == entry.id]
    assert (revived.status, revived.attempts, revived.last_error) == (
        OutboxStatus.PENDING,
        0,
        "451 later",
    )
    assert revived.message == entry.message
    assert entry.id not in dead(store)


def test_an_entry_a_dispatcher_claimed_meanwhile_is_not_made_due(store: Store) -> None:
    entry = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT)
    committed(store, lambda uow: uow.outbox.claim([entry], until=OUTBOX_AT + minutes(5)))

    error = refused(store, lambda uow: uow.outbox.make_due(entry, at=OUTBOX_AT))

    assert error.code == "outbox_claimed"
    assert stored(store, entry.id).next_attempt_at == OUTBOX_AT + minutes(5)


def test_an_entry_sent_meanwhile_is_not_made_due(store: Store) -> None:
    entry = failed(store, given_entry(store), attempts=1, retry_at=OUTBOX_AT + minutes(30))
    committed(store, lambda uow: uow.outbox.mark_sent(entry.id, at=OUTBOX_AT + minutes(31)))

    error = refused(store, lambda uow: uow.outbox.make_due(entry, at=OUTBOX_AT))

    assert error.code == "outbox_claimed"
    assert stored(store, entry.id).status is OutboxStatus.SENT


def test_a_dead_entry_another_retry_took_is_refused_whole_batch_and_all(store: Store) -> None:
    taken = failed(store, given_entry(store), attempts=3, retry_at=OUTBOX_AT, dead=True)
    other = failed(store, given_entry(store), attempts=3, retry_at=OUTBOX_AT, dead=True)
    committed(store, lambda uow: uow.outbox.make_due(taken, at=OUTBOX_AT + minutes(1)))

    error = refused(
        store,
        lambda uow: uow.outbox.make_due(other, at=OUTBOX_AT + minutes(2)),
        lambda uow: uow.outbox.make_due(taken, at=OUTBOX_AT + minutes(2)),
    )

    assert error.code == "outbox_claimed"
    assert stored(store, other.id).status is OutboxStatus.DEAD
    assert stored(store, taken.id).next_attempt_at == OUTBOX_AT + minutes(1)


def test_a_claim_of_leased_entries_until_now_hands_them_back(store: Store) -> None:
    entry = given_entry(store)
    lease_ends = OUTBOX_AT + minutes(5)
    committed(store, lambda uow: uow.outbox.claim([entry], until=lease_ends))
    leased = replace(entry, next_attempt_at=lease_ends)

    committed(store, lambda uow: uow.outbox.claim([leased], until=OUTBOX_AT + minutes(1)))

    assert entry.id in [found.id for found in due(store, OUTBOX_AT + minutes(1))]
