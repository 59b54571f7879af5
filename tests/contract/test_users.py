"""UsersRepository: what a user reads back as, and the writes that succeed.
(Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

from datetime import timedelta

from tenantry.store.open import Store
from tests.contract.builders import AT, make_user
from tests.contract.steps import committed, given_user, present, read


def test_a_user_reads_back_as_it_was_added(store: Store) -> None:
    user = given_user(
        store, email_verified_at=AT + timedelta(hours=1), session_epoch=3, reset_epoch=2
    )
    assert read(store, lambda uow: uow.users.get(user.id)) == user


def test_a_user_is_found_by_exactly_their_email(store: Store) -> None:
    user = given_user(store)
    assert read(store, lambda uow: uow.users.get_by_email(user.email)) == user
    assert read(store, lambda uow: uow.users.get_by_email("x" + user.email)) is None


def test_an_unknown_user_is_none(store: Store) -> None:
    assert read(store, lambda uow: uow.users.get(make_user().id)) is None


def test_requiring_an_existing_user_commits_and_changes_nothing(store: Store) -> None:
    user = given_user(store)
    committed(store, lambda uow: uow.users.require_exists(user.id))
    assert read(store, lambda uow: uow.users.get(user.id)) == user


def test_the_password_hash_changes_when_it_is_still_the_one_checked(store: Store) -> None:
    user = given_user(store, password_hash="hash-0")
    committed(
        store, lambda uow: uow.users.set_password_hash(user.id, "hash-1", expected_hash="hash-0")
    )
    assert present(read(store, lambda uow: uow.users.get(user.id))).password_hash == "hash-1"


def test_marking_a_user_verified_records_when(store: Store) -> None:
    user = given_user(store)
    verified_at = AT + timedelta(minutes=7)
    committed(store, lambda uow: uow.users.mark_verified(user.id, verified_at))
    stored = present(read(store, lambda uow: uow.users.get(user.id)))
    assert stored.email_verified_at == verified_at
    assert stored.is_verified


def test_bumping_the_session_epoch_sets_it_one_past_the_expected_one(store: Store) -> None:
    user = given_user(store)
    committed(store, lambda uow: uow.users.bump_session_epoch(user.id, expected=0))
    committed(store, lambda uow: uow.users.bump_session_epoch(user.id, expected=1))
    assert present(read(store, lambda uow: uow.users.get(user.id))).session_epoch == 2


def test_the_reset_epoch_is_set_without_a_precondition(store: Store) -> None:
    user = given_user(store, reset_epoch=1)
    # Two reset requests that read the same epoch both set the next one, and both commit.
    committed(store, lambda uow: uow.users.set_reset_epoch(user.id, 2))
    committed(store, lambda uow: uow.users.set_reset_epoch(user.id, 2))
    assert present(read(store, lambda uow: uow.users.get(user.id))).reset_epoch == 2


def test_setting_the_reset_epoch_of_a_missing_user_changes_nothing(store: Store) -> None:
    missing = make_user()
    committed(store, lambda uow: uow.users.set_reset_epoch(missing.id, 5))
    assert read(store, lambda uow: uow.users.get(missing.id)) is None
