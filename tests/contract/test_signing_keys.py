"""SigningKeysRepository: the ring in creation order, and state changes.
(Their refusals are in `refusals.py`.) The ring is global: tests look at their own keys."""

from __future__ import annotations

from dataclasses import replace

from tenantry.domain.model import KeyState, SigningKey
from tenantry.store.open import Store
from tests.contract.builders import AT, minutes
from tests.contract.steps import committed, given_key, read


def _mine(store: Store, *keys: SigningKey) -> list[SigningKey]:
    kids = {key.kid for key in keys}
    return [key for key in read(store, lambda uow: uow.signing_keys.list()) if key.kid in kids]


def test_the_ring_lists_keys_by_creation_then_kid(store: Store) -> None:
    newest = given_key(store, created_at=AT + minutes(2), state=KeyState.NEXT)
    tied = sorted(
        [given_key(store, state=KeyState.CURRENT), given_key(store, state=KeyState.RETIRED)],
        key=lambda key: key.kid,
    )
    assert _mine(store, newest, *tied) == [*tied, newest]


def test_a_next_key_becomes_current(store: Store) -> None:
    key = given_key(store, state=KeyState.NEXT)
    committed(
        store,
        lambda uow: uow.signing_keys.set_state(
            key.kid, expected=KeyState.NEXT, new=KeyState.CURRENT, at=AT + minutes(1)
        ),
    )
    assert _mine(store, key) == [replace(key, state=KeyState.CURRENT)]


def test_a_retired_key_records_when_it_retired(store: Store) -> None:
    key = given_key(store, state=KeyState.CURRENT)
    retired_at = AT + minutes(30)
    committed(
        store,
        lambda uow: uow.signing_keys.set_state(
            key.kid, expected=KeyState.CURRENT, new=KeyState.RETIRED, at=retired_at
        ),
    )
    assert _mine(store, key) == [replace(key, state=KeyState.RETIRED, retired_at=retired_at)]
