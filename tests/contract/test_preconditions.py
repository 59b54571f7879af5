"""Every precondition of every write port, on every store: a failed one is refused at commit
with its port's `Conflict` (or the write's `on_conflict`), and nothing of the unit of work is
applied."""

from __future__ import annotations

import pytest

from tenantry.domain.errors import Conflict, Gone
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import make_user
from tests.contract.refusals import REFUSALS, Case
from tests.contract.steps import read, refused

# `case` and `store` together (contract/conftest.py): each case on the stores of its port.
ALL = pytest.mark.refusal_cases(REFUSALS)
WITH_ON_CONFLICT = pytest.mark.refusal_cases([case for case in REFUSALS if case.takes_on_conflict])


@ALL
def test_a_failed_precondition_is_refused_at_commit_with_the_ports_conflict(
    store: Store, case: Case
) -> None:
    refusal = case.build(store)
    error = refused(
        store,
        lambda uow: refusal.write(uow, None),
        org_id=refusal.org_id,
        user_id=refusal.user_id,
    )
    assert type(error) is Conflict
    assert error.code == refusal.code


@WITH_ON_CONFLICT
def test_on_conflict_replaces_the_ports_conflict(store: Store, case: Case) -> None:
    refusal = case.build(store)
    mine = Gone("this link no longer works", code="link_gone")
    error = refused(
        store,
        lambda uow: refusal.write(uow, mine),
        org_id=refusal.org_id,
        user_id=refusal.user_id,
    )
    assert error is mine


@ALL
def test_a_failed_precondition_applies_nothing_of_the_unit_of_work(
    store: Store, case: Case
) -> None:
    refusal = case.build(store)
    added_before = make_user()

    def add_then_fail(uow: UnitOfWork) -> None:
        uow.users.add(added_before)
        refusal.write(uow, None)

    refused(store, add_then_fail, org_id=refusal.org_id, user_id=refusal.user_id)
    assert read(store, lambda uow: uow.users.get(added_before.id)) is None
