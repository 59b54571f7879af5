"""SessionsRepository: use, epochs, idempotent revocation, and the live list paged by cursor.
(Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tenantry.domain.errors import Invalid
from tenantry.domain.ids import new_id
from tenantry.domain.model import Page, Session, User
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_membership, make_session, minutes
from tests.contract.steps import committed, given_org, given_session, given_user, present, read


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


NOW = AT + timedelta(hours=1)


def _given_sessions(store: Store, *sessions: Session) -> None:
    def add_them(uow: UnitOfWork) -> None:
        for session in sessions:
            uow.sessions.add(session)

    committed(store, add_them)


def _live(
    store: Store,
    user: User,
    *,
    limit: int = 100,
    cursor: str | None = None,
    min_epoch: int = 0,
    now: datetime = NOW,
) -> Page[Session]:
    return read(
        store,
        lambda uow: uow.sessions.list_live_for_user(
            user.id, now=now, min_epoch=min_epoch, limit=limit, cursor=cursor
        ),
    )


def test_the_live_sessions_of_a_user_are_listed_newest_first(store: Store) -> None:
    user, other = given_user(store), given_user(store)
    oldest = make_session(user, created_at=AT - minutes(30), epoch=3)
    twins = sorted(
        (make_session(user, created_at=AT, epoch=2), make_session(user, created_at=AT, epoch=2)),
        key=lambda session: session.id,
    )
    revoked = make_session(user, epoch=2)
    expired = make_session(user, expires_at=NOW - minutes(1), epoch=2)
    expiring_now = make_session(user, expires_at=NOW, epoch=2)
    of_an_ended_epoch = make_session(user, created_at=AT + minutes(5), epoch=1)
    someone_elses = make_session(other, epoch=2)
    _given_sessions(
        store,
        oldest,
        *twins,
        revoked,
        expired,
        expiring_now,
        of_an_ended_epoch,
        someone_elses,
    )
    committed(store, lambda uow: uow.sessions.revoke(revoked.id, at=AT, reason="logout"))

    listed = _live(store, user, min_epoch=2)

    assert [session.id for session in listed.items] == [twins[0].id, twins[1].id, oldest.id]
    assert listed.next_cursor is None


def _sessions_begun(store: Store, user: User, offsets: list[int], **changes: object) -> list[str]:
    """Sessions of `user` begun that many minutes after AT; their ids, newest first."""
    sessions = [make_session(user, created_at=AT + minutes(m), **changes) for m in offsets]
    _given_sessions(store, *sessions)
    by_id = sorted(sessions, key=lambda session: session.id)
    return [s.id for s in sorted(by_id, key=lambda session: session.created_at, reverse=True)]


def test_live_sessions_are_paged_newest_first_then_by_id_until_the_cursor_is_none(
    store: Store,
) -> None:
    user = given_user(store)
    newest_first = _sessions_begun(store, user, [0, 2, 2, 1, 2])
    first = _live(store, user, limit=2)
    second = _live(store, user, limit=2, cursor=first.next_cursor)
    third = _live(store, user, limit=2, cursor=second.next_cursor)
    pages = [first, second, third]
    assert [[session.id for session in page.items] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert [page.next_cursor is None for page in pages] == [False, False, True]


def test_a_last_session_page_that_is_full_has_no_cursor(store: Store) -> None:
    user = given_user(store)
    newest_first = _sessions_begun(store, user, [0, 1, 2, 3])
    second = _live(store, user, limit=2, cursor=_live(store, user, limit=2).next_cursor)
    assert [session.id for session in second.items] == newest_first[2:]
    assert second.next_cursor is None


def test_the_epoch_is_applied_before_the_page_is_counted_out(store: Store) -> None:
    user = given_user(store)
    _sessions_begun(store, user, [10, 11, 12], epoch=0)  # newer, but ended by epoch 1
    live = _sessions_begun(store, user, [0, 1], epoch=1)
    page = _live(store, user, limit=2, min_epoch=1)
    assert [session.id for session in page.items] == live
    assert page.next_cursor is None


def test_a_user_without_live_sessions_has_one_empty_page(store: Store) -> None:
    assert _live(store, given_user(store), limit=2) == Page([], None)


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _member_list_cursor(store: Store) -> str:
    """A cursor the store did make, but for a member list."""
    org = given_org(store)

    def add_members(uow: UnitOfWork) -> None:
        for user in (given_user(store), given_user(store)):
            uow.memberships.add(make_membership(org, user))

    committed(store, add_members, org_id=org.id)
    page = read(
        store, lambda uow: uow.memberships.list_members(org.id, limit=1, cursor=None), org_id=org.id
    )
    return present(page.next_cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        _encoded("{}"),
        _encoded('["sessions", "yesterday", "ses_x"]'),
        _encoded('["sessions", "2030-01-01T12:00:00", "ses_x"]'),  # a time without its zone
        _encoded('["sessions", "2030-01-01T12:00:00+00:00", "ses_\u0000"]'),
        _encoded('["sessions", "9999-12-31T23:59:59-14:00", "ses_x"]'),  # past UTC's end
        _encoded('["2030-01-01T12:00:00+00:00", "ses_x"]'),  # a member list's shape
        _encoded('["memberships", "2030-01-01T12:00:00+00:00", "ses_x"]'),
    ],
)
def test_a_cursor_the_store_did_not_make_for_a_session_list_is_invalid(
    store: Store, cursor: str
) -> None:
    with pytest.raises(Invalid) as raised:
        _live(store, given_user(store), limit=2, cursor=cursor)
    assert raised.value.code == "invalid_cursor"


def test_a_member_list_cursor_is_invalid_for_a_session_list(store: Store) -> None:
    cursor = _member_list_cursor(store)
    with pytest.raises(Invalid) as raised:
        _live(store, given_user(store), limit=2, cursor=cursor)
    assert raised.value.code == "invalid_cursor"
