"""OutboxRepository: entries due oldest first, leased by a claim, then sent or failed, and
the counts monitoring reads. (A claim's refusals are in `refusals.py`; the operator's retry is
in `test_outbox_retry.py`.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tenantry.domain.model import OutboxEntry, OutboxStatus
from tenantry.outbox.ports import OutboxStats
from tenantry.store.memory import MemoryStore
from tenantry.store.open import Store
from tests.contract.builders import OUTBOX_AT, minutes
from tests.contract.steps import committed, due, given_entry, present, read, refused

LATER = OUTBOX_AT + timedelta(days=1)


def _ids(entries: list[OutboxEntry]) -> list[str]:
    return [entry.id for entry in entries]


def test_an_added_message_is_a_pending_entry_due_at_once(store: Store) -> None:
    entry = given_entry(store, subject="Reset your password")
    assert entry.id.startswith("msg_")
    assert entry.message.subject == "Reset your password"
    assert (entry.status, entry.attempts, entry.sent_at, entry.last_error) == (
        OutboxStatus.PENDING,
        0,
        None,
        None,
    )
    assert entry.created_at == entry.next_attempt_at == OUTBOX_AT


def test_an_entry_is_due_from_its_next_attempt_on(store: Store) -> None:
    entry = given_entry(store, at=OUTBOX_AT + minutes(5))
    assert entry.id not in _ids(due(store, OUTBOX_AT + minutes(4)))
    assert entry.id in _ids(due(store, OUTBOX_AT + minutes(5)))


def test_due_entries_come_oldest_first_then_by_id_up_to_the_limit(store: Store) -> None:
    last = given_entry(store, at=OUTBOX_AT + minutes(2))
    tied = sorted(
        [given_entry(store, at=OUTBOX_AT), given_entry(store, at=OUTBOX_AT)],
        key=lambda entry: entry.id,
    )
    assert _ids(due(store, LATER, limit=3)) == [*_ids(tied), last.id]
    assert _ids(due(store, LATER, limit=2)) == _ids(tied)


def test_a_claim_leases_the_entries_until_the_lease_runs_out(store: Store) -> None:
    entry = given_entry(store)
    until = OUTBOX_AT + minutes(5)
    committed(store, lambda uow: uow.outbox.claim([entry], until=until))
    assert entry.id not in _ids(due(store, until - minutes(1)))
    [leased] = [found for found in due(store, until) if found.id == entry.id]
    assert leased.next_attempt_at == until


def test_a_claim_of_several_entries_is_refused_whole_if_one_was_claimed(store: Store) -> None:
    free, taken = given_entry(store), given_entry(store)
    until = OUTBOX_AT + minutes(5)
    committed(store, lambda uow: uow.outbox.claim([taken], until=until))
    error = refused(store, lambda uow: uow.outbox.claim([free, taken], until=until))
    assert error.code == "outbox_claimed"
    assert free in due(store, OUTBOX_AT)


def test_a_sent_entry_is_never_due_again(store: Store) -> None:
    entry = given_entry(store)
    committed(store, lambda uow: uow.outbox.mark_sent(entry.id, at=OUTBOX_AT + minutes(1)))
    assert entry.id not in _ids(due(store, LATER))


def test_a_sent_entry_keeps_no_bodies_for_they_carry_one_time_links(store: Store) -> None:
    entry = given_entry(store)
    committed(store, lambda uow: uow.outbox.mark_sent(entry.id, at=OUTBOX_AT + minutes(1)))
    sent = present(read(store, lambda uow: uow.outbox.get(entry.id)))
    assert (sent.status, sent.sent_at) == (OutboxStatus.SENT, OUTBOX_AT + minutes(1))
    assert (sent.message.text, sent.message.html) == ("", "")
    assert sent.message.to == entry.message.to


def test_a_failed_entry_is_retried_at_its_next_attempt_with_its_error(store: Store) -> None:
    entry = given_entry(store)
    retry_at = OUTBOX_AT + minutes(10)
    committed(
        store,
        lambda uow: uow.outbox.mark_failed(
            entry.id, attempts=1, next_attempt_at=retry_at, error="x" * 1500, dead=False
        ),
    )
    assert entry.id not in _ids(due(store, retry_at - minutes(1)))
    [retried] = [found for found in due(store, retry_at) if found.id == entry.id]
    assert (retried.status, retried.attempts, retried.next_attempt_at) == (
        OutboxStatus.PENDING,
        1,
        retry_at,
    )
    assert retried.last_error == "x" * 1000
    assert retried.message == entry.message


def test_a_dead_entry_is_never_due_again_but_keeps_its_message_for_a_retry(
    store: Store,
) -> None:
    entry = given_entry(store)
    committed(
        store,
        lambda uow: uow.outbox.mark_failed(
            entry.id, attempts=5, next_attempt_at=OUTBOX_AT, error="550 no such user", dead=True
        ),
    )
    assert entry.id not in _ids(due(store, LATER))
    dead = present(read(store, lambda uow: uow.outbox.get(entry.id)))
    assert (dead.status, dead.attempts, dead.last_error) == (
        OutboxStatus.DEAD,
        5,
        "550 no such user",
    )
    assert dead.message == entry.message


def test_get_reads_an_entry_whatever_its_status_and_none_for_an_unknown_id(
    store: Store,
) -> None:
    entry = given_entry(store)
    assert read(store, lambda uow: uow.outbox.get(entry.id)) == entry
    assert read(store, lambda uow: uow.outbox.get("msg_unknown")) is None


def _stats(store: Store, now: datetime) -> OutboxStats:
    return read(store, lambda uow: uow.outbox.stats(now))


def test_stats_count_each_status_the_due_entries_and_the_oldest_pending(store: Store) -> None:
    # The outbox is global and the PostgreSQL database shared: compare with what was there.
    before = _stats(store, OUTBOX_AT)
    oldest = given_entry(store, at=OUTBOX_AT)
    given_entry(store, at=OUTBOX_AT + minutes(10))  # pending, not due at OUTBOX_AT
    sent, dead = given_entry(store), given_entry(store)
    committed(store, lambda uow: uow.outbox.mark_sent(sent.id, at=OUTBOX_AT))
    committed(
        store,
        lambda uow: uow.outbox.mark_failed(
            dead.id, attempts=5, next_attempt_at=OUTBOX_AT, error="550", dead=True
        ),
    )

    after = _stats(store, OUTBOX_AT)

    assert (after.pending - before.pending, after.due - before.due) == (2, 1)
    assert (after.dead - before.dead, after.sent - before.sent) == (1, 1)
    assert after.oldest_pending_at == oldest.created_at == OUTBOX_AT


def test_a_claimed_entry_is_pending_but_not_due(store: Store) -> None:
    before = _stats(store, OUTBOX_AT)
    entry = given_entry(store)
    committed(store, lambda uow: uow.outbox.claim([entry], until=OUTBOX_AT + minutes(5)))
    after = _stats(store, OUTBOX_AT)
    assert (after.pending - before.pending, after.due - before.due) == (1, 0)


def test_an_outbox_with_nothing_pending_has_no_oldest_entry() -> None:
    stats = _stats(MemoryStore(), OUTBOX_AT)  # only a fresh store is known to be empty
    assert stats == OutboxStats(pending=0, due=0, dead=0, sent=0, oldest_pending_at=None)
