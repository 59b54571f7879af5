"""IdentityLinksRepository: reads, the list by (issuer, subject) in code-point order, removal,
and the refused writes (a subject linked twice, a link removed meanwhile), on every store.
Links are global: each test uses issuers of its own."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tenantry.domain.errors import Conflict, Gone
from tenantry.identities.ports import IdentityLink, LinkMethod
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_user, minutes
from tests.contract.steps import committed, given_user, read, refused


def an_issuer() -> str:
    return f"https://cognito-idp.test/pool-{secrets.token_hex(5)}"


def make_link(user_id: str, **changes: Any) -> IdentityLink:
    link = IdentityLink(
        issuer=an_issuer(),
        subject=f"sub-{secrets.token_hex(8)}",
        user_id=user_id,
        method=LinkMethod.VERIFIED_EMAIL,
        created_at=AT,
    )
    return replace(link, **changes)


def given_link(store: Store, user_id: str | None = None, **changes: Any) -> IdentityLink:
    link = make_link(user_id or given_user(store).id, **changes)
    committed(store, lambda uow: uow.identity_links.add(link))
    return link


def links(store: Store, **query: Any) -> list[IdentityLink]:
    return read(store, lambda uow: uow.identity_links.list(limit=100, **query))


def test_a_link_reads_back_as_it_was_added(store: Store) -> None:
    link = given_link(store, method=LinkMethod.OPERATOR, created_at=AT + minutes(3))
    assert read(store, lambda uow: uow.identity_links.get(link.issuer, link.subject)) == link


def test_a_link_is_found_by_exactly_its_issuer_and_subject(store: Store) -> None:
    link = given_link(store)

    def get(issuer: str, subject: str) -> IdentityLink | None:
        return read(store, lambda uow: uow.identity_links.get(issuer, subject))

    assert get(link.issuer, link.subject.upper()) is None
    assert get(link.issuer + "/", link.subject) is None
    assert get(an_issuer(), link.subject) is None


def test_one_subject_may_be_linked_under_two_issuers(store: Store) -> None:
    user = given_user(store)
    first = given_link(store, user.id, subject="shared")
    second = given_link(store, user.id, subject="shared")
    assert links(store, user_id=user.id) == sorted([first, second], key=lambda x: x.issuer)


def test_the_list_is_by_issuer_then_subject_in_code_point_order(store: Store) -> None:
    user, issuer = given_user(store), an_issuer()
    # Upper case before lower, and a hyphen counts: code points, not a language's collation.
    made = [given_link(store, user.id, issuer=issuer, subject=s) for s in ["ab", "a-b", "B", "a"]]
    later_issuer = given_link(store, user.id, issuer=issuer + "z", subject="0")
    given_link(store)  # someone else's

    mine = links(store, user_id=user.id)

    assert [link.subject for link in mine] == ["B", "a", "a-b", "ab", "0"]
    assert mine == [*sorted(made, key=lambda link: link.subject), later_issuer]


def test_the_list_goes_on_after_an_issuer_and_subject_and_stops_at_the_limit(
    store: Store,
) -> None:
    user, issuer = given_user(store), an_issuer()
    ordered = [given_link(store, user.id, issuer=issuer, subject=f"s{n}") for n in range(5)]

    def page(after: tuple[str, str] | None) -> list[IdentityLink]:
        return read(
            store, lambda uow: uow.identity_links.list(user_id=user.id, after=after, limit=2)
        )

    first = page(None)
    second = page((first[-1].issuer, first[-1].subject))
    third = page((second[-1].issuer, second[-1].subject))
    assert [first, second, third] == [ordered[0:2], ordered[2:4], ordered[4:]]
    assert page((issuer, "s4")) == []


def test_the_list_without_a_user_holds_every_users_links(store: Store) -> None:
    issuer = an_issuer()
    ours = [given_link(store, issuer=issuer, subject=s) for s in ["x", "y"]]
    before_ours = (issuer[:-1], "")  # an issuer just before ours, so the list starts near it
    found = [link for link in links(store, after=before_ours) if link.issuer == issuer]
    assert found == ours
    assert len({link.user_id for link in found}) == 2


def test_a_removed_link_is_gone(store: Store) -> None:
    link = given_link(store)
    committed(store, lambda uow: uow.identity_links.remove(link))
    assert read(store, lambda uow: uow.identity_links.get(link.issuer, link.subject)) is None
    assert links(store, user_id=link.user_id) == []


# --- refused writes ---------------------------------------------------------------------------


def test_a_subject_linked_twice_is_refused_and_the_first_link_stays(store: Store) -> None:
    first = given_link(store)
    again = replace(first, user_id=given_user(store).id, method=LinkMethod.OPERATOR)

    error = refused(store, lambda uow: uow.identity_links.add(again))

    assert (type(error), error.code) == (Conflict, "identity_already_linked")
    assert read(store, lambda uow: uow.identity_links.get(first.issuer, first.subject)) == first


def test_two_first_uses_racing_link_the_subject_once(store: Store) -> None:
    users = [given_user(store), given_user(store)]
    link = make_link(users[0].id)
    racers = [store.unit_of_work(), store.unit_of_work()]
    with racers[0] as first, racers[1] as second:
        for uow, user in zip((first, second), users, strict=True):
            # Both read before either writes: neither sees a link.
            assert uow.identity_links.get(link.issuer, link.subject) is None
            uow.identity_links.add(replace(link, user_id=user.id))
        first.commit()
        with pytest.raises(Conflict) as raised:
            second.commit()
    assert raised.value.code == "identity_already_linked"
    assert read(store, lambda uow: uow.identity_links.get(link.issuer, link.subject)) == link


def test_removing_a_link_that_is_gone_or_now_another_users_is_refused(store: Store) -> None:
    link = given_link(store)
    gone = make_link(link.user_id)
    elsewhere = replace(link, user_id=given_user(store).id)

    def removing(stale: IdentityLink) -> Callable[[UnitOfWork], None]:
        return lambda uow: uow.identity_links.remove(stale)

    for stale in (gone, elsewhere):
        error = refused(store, removing(stale))
        assert (type(error), error.code) == (Conflict, "identity_link_changed")
    assert read(store, lambda uow: uow.identity_links.get(link.issuer, link.subject)) == link


def test_on_conflict_replaces_the_conflict_of_either_write(store: Store) -> None:
    link = given_link(store)
    mine = Gone("this link no longer works", code="link_gone")
    writes = [
        lambda uow: uow.identity_links.add(link, on_conflict=mine),
        lambda uow: uow.identity_links.remove(make_link(link.user_id), on_conflict=mine),
    ]
    for write in writes:
        assert refused(store, write) is mine


def test_a_refused_link_applies_nothing_of_its_unit_of_work(store: Store) -> None:
    link = given_link(store)
    added_before = make_user()

    def add_then_fail(uow: UnitOfWork) -> None:
        uow.users.add(added_before)
        uow.identity_links.add(link)

    refused(store, add_then_fail)
    assert read(store, lambda uow: uow.users.get(added_before.id)) is None
