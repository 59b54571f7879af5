"""What every unit of work promises: reads see committed state only, writes are intents
applied in call order at commit, all or none, and a unit of work lives in its `with` block."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tenantry.domain.errors import Conflict
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_one_time_token, make_org, make_user
from tests.contract.steps import committed, given_user, present, read, refused


def test_a_read_does_not_see_the_unit_of_works_own_buffered_write(store: Store) -> None:
    user = make_user()
    with store.unit_of_work() as uow:
        uow.users.add(user)
        assert uow.users.get(user.id) is None
        assert uow.users.get_by_email(user.email) is None
        uow.commit()
    assert read(store, lambda uow: uow.users.get(user.id)) == user


def test_a_read_does_not_see_a_buffered_change_to_a_committed_record(store: Store) -> None:
    user = given_user(store)
    with store.unit_of_work() as uow:
        uow.users.bump_session_epoch(user.id, expected=0)
        assert present(uow.users.get(user.id)).session_epoch == 0
        uow.commit()


def test_leaving_the_block_without_commit_applies_nothing(store: Store) -> None:
    user = make_user()
    with store.unit_of_work() as uow:
        uow.users.add(user)
    assert read(store, lambda uow: uow.users.get(user.id)) is None


def test_rollback_drops_the_writes_buffered_before_it(store: Store) -> None:
    dropped, kept = make_user(), make_user()
    with store.unit_of_work() as uow:
        uow.users.add(dropped)
        uow.rollback()
        uow.users.add(kept)
        uow.commit()
    assert read(store, lambda uow: uow.users.get(dropped.id)) is None
    assert read(store, lambda uow: uow.users.get(kept.id)) == kept


def test_an_error_in_the_block_applies_nothing(store: Store) -> None:
    user = make_user()

    def fail_midway() -> None:
        with store.unit_of_work() as uow:
            uow.users.add(user)
            raise LookupError("the use case failed")

    with pytest.raises(LookupError):
        fail_midway()
    assert read(store, lambda uow: uow.users.get(user.id)) is None


def test_a_unit_of_work_is_refused_before_its_block(store: Store) -> None:
    uow = store.unit_of_work()
    with pytest.raises(RuntimeError):
        uow.users.get("usr_nobody")
    with pytest.raises(RuntimeError):
        uow.commit()


def test_a_unit_of_work_is_refused_after_its_block(store: Store) -> None:
    with store.unit_of_work() as uow:
        pass
    with pytest.raises(RuntimeError):
        uow.users.add(make_user())
    with pytest.raises(RuntimeError):
        uow.commit()


def test_a_bound_scope_holds_for_the_writes_of_the_unit_of_work(store: Store) -> None:
    org = make_org()
    with store.unit_of_work() as uow:
        uow.bind(org_id=org.id)
        uow.organisations.add(org)
        uow.commit()
    assert read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id) == org


def test_a_later_write_sees_the_earlier_writes_of_the_same_unit_of_work(store: Store) -> None:
    user = make_user(password_hash="hash-0")

    def add_then_change_password(uow: UnitOfWork) -> None:
        uow.users.add(user)
        uow.users.set_password_hash(user.id, "hash-1", expected_hash="hash-0")
        uow.users.bump_session_epoch(user.id, expected=0)
        uow.users.bump_session_epoch(user.id, expected=1)

    committed(store, add_then_change_password)
    stored = present(read(store, lambda uow: uow.users.get(user.id)))
    assert (stored.password_hash, stored.session_epoch) == ("hash-1", 2)


def test_a_second_user_with_the_same_email_in_one_unit_of_work_is_refused(store: Store) -> None:
    first = make_user()
    second = make_user(email=first.email)
    error = refused(store, lambda uow: uow.users.add(first), lambda uow: uow.users.add(second))
    assert error.code == "email_taken"
    assert read(store, lambda uow: uow.users.get_by_email(first.email)) is None


def test_a_token_used_twice_in_one_unit_of_work_is_refused_the_second_time(
    store: Store,
) -> None:
    token = make_one_time_token(given_user(store))
    committed(store, lambda uow: uow.one_time_tokens.add(token))

    def use_twice(uow: UnitOfWork) -> None:
        uow.one_time_tokens.mark_used(token.id, AT)
        uow.one_time_tokens.mark_used(token.id, AT)

    assert refused(store, use_twice).code == "token_used"
    stored = read(store, lambda uow: uow.one_time_tokens.get_by_hash(token.token_hash))
    assert present(stored).used_at is None


@pytest.mark.races
def test_of_racing_sign_ups_with_one_email_exactly_one_commits(store: Store) -> None:
    email = make_user().email

    def sign_up(_: int) -> str:
        try:
            committed(store, lambda uow: uow.users.add(make_user(email=email)))
        except Conflict as error:
            return error.code
        return "committed"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(sign_up, range(8)))
    assert outcomes == ["committed"] + ["email_taken"] * 7


@pytest.mark.races
def test_of_racing_epoch_bumps_from_one_epoch_exactly_one_commits(store: Store) -> None:
    user = given_user(store)

    def log_out_everywhere(_: int) -> str:
        try:
            committed(store, lambda uow: uow.users.bump_session_epoch(user.id, expected=0))
        except Conflict as error:
            return error.code
        return "committed"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(log_out_everywhere, range(8)))
    assert outcomes == ["account_changed"] * 7 + ["committed"]
    assert present(read(store, lambda uow: uow.users.get(user.id))).session_epoch == 1
