"""MembershipsRepository: reads, updates of active memberships, rejoins of ended ones, a
user's memberships (paged, and those begun as OWNER), the holders of a role, and member lists
paged by cursor. (Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from tenantry.domain.errors import Invalid
from tenantry.domain.model import (
    Membership,
    MembershipStatus,
    Organisation,
    OrgStatus,
    Page,
    User,
)
from tenantry.domain.roles import OrgRole
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_membership, make_user, minutes
from tests.contract.steps import committed, given_member, given_org, given_user, present, read


def test_a_membership_reads_back_as_it_was_added(store: Store) -> None:
    org = given_org(store)
    membership = given_member(store, org, org_role=OrgRole.ADMIN)
    got = read(store, lambda uow: uow.memberships.get(org.id, membership.user_id), org_id=org.id)
    assert got == membership


def test_an_unknown_membership_is_none(store: Store) -> None:
    org, stranger = given_org(store), given_user(store)
    assert read(store, lambda uow: uow.memberships.get(org.id, stranger.id), org_id=org.id) is None


def test_requiring_an_active_membership_commits(store: Store) -> None:
    org = given_org(store)
    member = given_member(store, org)
    committed(
        store, lambda uow: uow.memberships.require_active(org.id, member.user_id), org_id=org.id
    )


def test_an_update_writes_role_status_and_end_time(store: Store) -> None:
    org = given_org(store)
    member = given_member(store, org)
    ended = replace(
        member,
        org_role=OrgRole.ADMIN,
        status=MembershipStatus.ENDED,
        ended_at=AT + minutes(3),
        joined_at=AT + minutes(1),
        email="changed@example.test",
        name="Changed",
    )
    committed(store, lambda uow: uow.memberships.update(ended), org_id=org.id)
    stored = read(store, lambda uow: uow.memberships.get(org.id, member.user_id), org_id=org.id)
    assert stored == replace(
        member, org_role=OrgRole.ADMIN, status=MembershipStatus.ENDED, ended_at=AT + minutes(3)
    )


def test_a_rejoin_makes_an_ended_membership_active_as_it_is_written_now(store: Store) -> None:
    org = given_org(store)
    former = given_member(
        store, org, org_role=OrgRole.ADMIN, status=MembershipStatus.ENDED, ended_at=AT
    )
    again = replace(
        former,
        org_role=OrgRole.MEMBER,
        joined_at=AT + minutes(5),
        email="renamed@example.test",
        name="Renamed",
    )
    committed(store, lambda uow: uow.memberships.rejoin(again), org_id=org.id)
    stored = read(store, lambda uow: uow.memberships.get(org.id, former.user_id), org_id=org.id)
    assert stored == replace(again, status=MembershipStatus.ACTIVE, ended_at=None)


def test_a_rejoined_member_is_listed_once_at_the_new_join_time(store: Store) -> None:
    org, user = given_org(store), given_user(store)
    earlier = given_member(store, org, joined_at=AT + minutes(1))
    former = given_member(
        store, org, user, status=MembershipStatus.ENDED, joined_at=AT, ended_at=AT
    )
    again = replace(former, joined_at=AT + minutes(2))
    committed(store, lambda uow: uow.memberships.rejoin(again), org_id=org.id)
    active = replace(again, status=MembershipStatus.ACTIVE, ended_at=None)
    assert _page(store, org, None) == Page([earlier, active], None)
    assert _mine(store, user) == Page([active], None)


def test_the_active_holders_of_a_role_are_listed_by_join_time_then_user(store: Store) -> None:
    org = given_org(store)
    later = given_member(store, org, org_role=OrgRole.ADMIN, joined_at=AT + minutes(2))
    together = sorted(
        (given_member(store, org, org_role=OrgRole.ADMIN) for _ in range(2)),
        key=lambda membership: membership.user_id,
    )
    given_member(store, org, org_role=OrgRole.ADMIN, status=MembershipStatus.ENDED)
    given_member(store, org, org_role=OrgRole.MEMBER)
    given_member(store, given_org(store), org_role=OrgRole.ADMIN)  # another organisation's
    admins = read(
        store, lambda uow: uow.memberships.list_with_role(org.id, OrgRole.ADMIN), org_id=org.id
    )
    assert admins == [*together, later]


def _mine(
    store: Store, user: User, *, limit: int = 100, cursor: str | None = None
) -> Page[Membership]:
    return read(
        store,
        lambda uow: uow.memberships.list_for_user(user.id, limit=limit, cursor=cursor),
        user_id=user.id,
    )


def test_a_users_active_memberships_are_listed_by_join_time_then_org(store: Store) -> None:
    user = given_user(store)
    later = given_member(store, given_org(store), user, joined_at=AT + minutes(2))
    in_a_deleted_org = given_member(store, given_org(store, status=OrgStatus.DELETED), user)
    joined_together = sorted(
        [in_a_deleted_org, given_member(store, given_org(store), user)],
        key=lambda membership: membership.org_id,
    )
    given_member(store, given_org(store), user, status=MembershipStatus.ENDED)
    given_member(store, given_org(store))  # someone else's
    assert _mine(store, user) == Page([*joined_together, later], None)


def test_a_users_memberships_are_paged_until_the_cursor_is_none(store: Store) -> None:
    user = given_user(store)
    memberships = sorted(
        (
            given_member(store, given_org(store), user, joined_at=AT + minutes(m))
            for m in [2, 0, 1, 1, 3]
        ),
        key=lambda membership: (membership.joined_at, membership.org_id),
    )
    given_member(store, given_org(store), user, status=MembershipStatus.ENDED, joined_at=AT)
    first = _mine(store, user, limit=2)
    second = _mine(store, user, limit=2, cursor=first.next_cursor)
    third = _mine(store, user, limit=2, cursor=second.next_cursor)
    assert [first.items, second.items, third.items] == [
        memberships[0:2],
        memberships[2:4],
        memberships[4:],
    ]
    assert [page.next_cursor is None for page in (first, second, third)] == [False, False, True]
    assert _mine(store, user, limit=5) == Page(memberships, None)  # a full last page


def test_a_member_list_cursor_is_invalid_for_a_users_memberships(store: Store) -> None:
    org = given_org(store)
    _members(store, org, [0, 1, 2])
    cursor = present(_page(store, org, None).next_cursor)  # the store's, for another list
    with pytest.raises(Invalid) as raised:
        _mine(store, given_user(store), limit=2, cursor=cursor)
    assert raised.value.code == "invalid_cursor"


def test_the_memberships_begun_as_owner_since_a_time_are_listed_oldest_first(
    store: Store,
) -> None:
    user, since = given_user(store), AT + minutes(10)
    at_the_start = given_member(
        store, given_org(store), user, org_role=OrgRole.OWNER, joined_at=since
    )
    of_a_deleted_org = given_member(
        store,
        given_org(store, status=OrgStatus.DELETED),
        user,
        org_role=OrgRole.OWNER,
        joined_at=since + minutes(2),
    )
    ended = given_member(
        store,
        given_org(store),
        user,
        org_role=OrgRole.OWNER,
        status=MembershipStatus.ENDED,
        joined_at=since + minutes(1),
    )
    given_member(
        store, given_org(store), user, org_role=OrgRole.OWNER, joined_at=since - minutes(1)
    )
    given_member(store, given_org(store), user, org_role=OrgRole.ADMIN, joined_at=since)
    given_member(store, given_org(store), org_role=OrgRole.OWNER, joined_at=since)  # another's

    def owned(limit: int) -> list[Membership]:
        return read(
            store,
            lambda uow: uow.memberships.list_joined_as_owner_since(
                user.id, since=since, limit=limit
            ),
            user_id=user.id,
        )

    assert owned(10) == [at_the_start, ended, of_a_deleted_org]
    assert owned(2) == [at_the_start, ended]


def _members(store: Store, org: Organisation, joined_minutes: list[int]) -> list[Membership]:
    """Active members of `org`, joined that many minutes after AT, in member-list order."""
    users = [make_user() for _ in joined_minutes]
    members = [
        make_membership(org, user, joined_at=AT + minutes(offset))
        for user, offset in zip(users, joined_minutes, strict=True)
    ]

    def add(uow: UnitOfWork) -> None:
        for user, member in zip(users, members, strict=True):
            uow.users.add(user)
            uow.memberships.add(member)

    committed(store, add, org_id=org.id)
    return sorted(members, key=lambda member: (member.joined_at, member.user_id))


def _page(store: Store, org: Organisation, cursor: str | None) -> Page[Membership]:
    return read(
        store,
        lambda uow: uow.memberships.list_members(org.id, limit=2, cursor=cursor),
        org_id=org.id,
    )


def test_a_member_list_is_paged_by_join_time_then_user_until_the_cursor_is_none(
    store: Store,
) -> None:
    org = given_org(store)
    members = _members(store, org, [3, 0, 0, 1, 2])
    given_member(store, org, status=MembershipStatus.ENDED, joined_at=AT)
    given_member(store, given_org(store), joined_at=AT)  # another organisation's
    first = _page(store, org, None)
    second = _page(store, org, first.next_cursor)
    third = _page(store, org, second.next_cursor)
    assert [len(first.items), len(second.items), len(third.items)] == [2, 2, 1]
    assert [*first.items, *second.items, *third.items] == members
    assert first.next_cursor is not None
    assert second.next_cursor is not None
    assert third.next_cursor is None


def test_a_last_page_that_is_full_has_no_cursor(store: Store) -> None:
    org = given_org(store)
    members = _members(store, org, [0, 1, 2, 3])
    first = _page(store, org, None)
    second = _page(store, org, first.next_cursor)
    assert second.items == members[2:]
    assert second.next_cursor is None


def test_an_organisation_without_members_has_one_empty_page(store: Store) -> None:
    assert _page(store, given_org(store), None) == Page([], None)


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        _encoded("{}"),
        _encoded('["yesterday", "usr_x"]'),
        _encoded('["2030-01-01T12:00:00", "usr_x"]'),  # a time without its zone
        _encoded("[1, 2]"),
    ],
)
def test_a_cursor_the_store_did_not_make_is_invalid(store: Store, cursor: str) -> None:
    org = given_org(store)
    with pytest.raises(Invalid) as raised:
        _page(store, org, cursor)
    assert raised.value.code == "invalid_cursor"
