"""OneTimeTokensRepository and RefreshTokensRepository: found by hash, used once.
(Their refused writes are in `refusals.py`.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tenantry.domain.ids import hash_secret, new_secret_token
from tenantry.store.open import Store
from tests.contract.builders import AT, make_one_time_token, make_refresh_token
from tests.contract.steps import committed, given_session, given_user, read


def test_a_one_time_token_reads_back_by_its_hash(store: Store) -> None:
    token = make_one_time_token(given_user(store))
    committed(store, lambda uow: uow.one_time_tokens.add(token))
    assert read(store, lambda uow: uow.one_time_tokens.get_by_hash(token.token_hash)) == token


def test_an_unknown_one_time_token_hash_is_none(store: Store) -> None:
    unknown = hash_secret(new_secret_token())
    assert read(store, lambda uow: uow.one_time_tokens.get_by_hash(unknown)) is None


def test_using_a_one_time_token_records_when(store: Store) -> None:
    token = make_one_time_token(given_user(store))
    used_at = AT + timedelta(minutes=3)
    committed(store, lambda uow: uow.one_time_tokens.add(token))
    committed(store, lambda uow: uow.one_time_tokens.mark_used(token.id, used_at))
    stored = read(store, lambda uow: uow.one_time_tokens.get_by_hash(token.token_hash))
    assert stored == replace(token, used_at=used_at)


def test_a_refresh_token_reads_back_by_its_hash(store: Store) -> None:
    session = given_session(store)
    parent = make_refresh_token(session)
    child = make_refresh_token(session, parent_id=parent.id)
    committed(
        store, lambda uow: uow.refresh_tokens.add(parent), lambda uow: uow.refresh_tokens.add(child)
    )
    assert read(store, lambda uow: uow.refresh_tokens.get_by_hash(child.token_hash)) == child


def test_rotating_a_refresh_token_records_when(store: Store) -> None:
    token = make_refresh_token(given_session(store))
    used_at = AT + timedelta(minutes=3)
    committed(store, lambda uow: uow.refresh_tokens.add(token))
    committed(store, lambda uow: uow.refresh_tokens.mark_used(token.id, used_at))
    stored = read(store, lambda uow: uow.refresh_tokens.get_by_hash(token.token_hash))
    assert stored == replace(token, used_at=used_at)
