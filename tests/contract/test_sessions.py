"""SessionsRepository: use, epochs, idempotent revocation, and the unexpired list.
(Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tenantry.domain.ids import new_id
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_session, minutes
from tests.contract.steps import committed, given_session, given_user, present, read


def test_a_session_reads_back_as_it_was_added(store: Store) -> None:
    session = given_session(store, org_id=new_id("org"), epoch=4)
    assert read(store, lambda uow: uow.sessions.get(session.id)) == session


def test_using_a_session_records_when_and_in_which_organisation(store: Store) -> None:
    session = given_session(store)
    org_id, used_at = new_id("org"), AT + minutes(10)
    committed(store, lambda uow: uow.sessions.record_use(session.id, at=used_at, org_id=org_id))
    stored = read(store, lambda uow: uow.sessions.get(session.id))
    assert stored == replace(session, last_used_at=used_at, org_id=org_id)


def test_using_a_session_without_an_organisation_clears_it(store: Store) -> None:
    session = given_session(store, org_id=new_id("org"))
    committed(store, lambda uow: uow.sessions.record_use(session.id, at=AT, org_id=None))
    assert present(read(store, lambda uow: uow.sessions.get(session.id))).org_id is None


def test_a_session_is_carried_into_a_new_epoch(store: Store) -> None:
    session = given_session(store)
    committed(store, lambda uow: uow.sessions.set_epoch(session.id, 7))
    assert present(read(store, lambda uow: uow.sessions.get(session.id))).epoch == 7


def test_revoking_a_session_records_when_and_why(store: Store) -> None:
    session = given_session(store)
    committed(store, lambda uow: uow.sessions.revoke(session.id, at=AT, reason="logout"))
    stored = read(store, lambda uow: uow.sessions.get(session.id))
    assert stored == replace(session, revoked_at=AT, revoked_reason="logout")


def test_revoking_a_revoked_session_keeps_its_first_revocation(store: Store) -> None:
    session = given_session(store)
    committed(store, lambda uow: uow.sessions.revoke(session.id, at=AT, reason="logout"))
    committed(
        store, lambda uow: uow.sessions.revoke(session.id, at=AT + minutes(1), reason="reuse")
    )
    stored = present(read(store, lambda uow: uow.sessions.get(session.id)))
    assert (stored.revoked_at, stored.revoked_reason) == (AT, "logout")


def test_revoking_a_missing_session_commits(store: Store) -> None:
    committed(store, lambda uow: uow.sessions.revoke(new_id("ses"), at=AT, reason="logout"))


def test_the_unexpired_sessions_of_a_user_are_listed_newest_first(store: Store) -> None:
    user, other = given_user(store), given_user(store)
    now = AT + timedelta(hours=1)
    oldest = make_session(user, created_at=AT - minutes(30))
    twins = sorted(
        (make_session(user, created_at=AT), make_session(user, created_at=AT)),
        key=lambda session: session.id,
    )
    revoked = make_session(user)
    expired = make_session(user, expires_at=now - minutes(1))
    expiring_now = make_session(user, expires_at=now)
    someone_elses = make_session(other)

    def add_them(uow: UnitOfWork) -> None:
        for session in (oldest, *twins, revoked, expired, expiring_now, someone_elses):
            uow.sessions.add(session)

    committed(store, add_them)
    committed(store, lambda uow: uow.sessions.revoke(revoked.id, at=AT, reason="logout"))
    listed = read(store, lambda uow: uow.sessions.list_unexpired_for_user(user.id, now))
    assert [session.id for session in listed] == [twins[0].id, twins[1].id, oldest.id]
