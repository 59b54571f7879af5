"""The member list: cursor pagination that visits every member once, in join order, and
refuses malformed cursors and limits."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest

from tenantry.domain.audit import Outcome
from tests.harness import ON_EVERY_STORE, Account, Api, StoreTarget, TestClock, audit_events

pytestmark = ON_EVERY_STORE


def member_pages(api: Api, account: Account, org_id: str, limit: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):  # a cursor that never ends must fail the test, not hang it
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = api.client.get(
            f"/v1/organisations/{org_id}/members", params=params, headers=account.auth
        )
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError(f"pagination did not end after {len(pages)} pages")


# --- the member list ------------------------------------------------------------------------


def test_the_member_list_pages_through_every_member_once_in_join_order(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    joined = [owner]
    for _ in range(7):
        clock.advance(seconds=1)
        joined.append(api.member_of(org["id"]))

    pages = member_pages(api, owner, org["id"], limit=3)

    assert [len(page["items"]) for page in pages] == [3, 3, 2]
    assert [page["next_cursor"] is None for page in pages] == [False, False, True]
    listed = [member for page in pages for member in page["items"]]
    assert [m["user_id"] for m in listed] == [account.user_id for account in joined]
    assert [m["email"] for m in listed] == [account.email for account in joined]
    assert [m["org_role"] for m in listed] == ["OWNER"] + ["MEMBER"] * 7
    assert {m["status"] for m in listed} == {"ACTIVE"}
    joined_at = [datetime.fromisoformat(m["joined_at"]) for m in listed]
    assert joined_at == sorted(joined_at)
    assert len(set(joined_at)) == 8
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []


def test_members_who_joined_at_the_same_instant_are_each_listed_once(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    joined = [owner] + [api.member_of(org["id"]) for _ in range(6)]  # the clock stands still

    pages = member_pages(api, owner, org["id"], limit=2)

    assert [len(page["items"]) for page in pages] == [2, 2, 2, 1]
    listed = [member["user_id"] for page in pages for member in page["items"]]
    assert listed == sorted(account.user_id for account in joined)  # ties go by user id
    assert {datetime.fromisoformat(m["joined_at"]) for p in pages for m in p["items"]} == {
        clock.now()
    }
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not a cursor!"}, "invalid_cursor"),
        ({"cursor": b64(b"[1]")}, "invalid_cursor"),
        ({"cursor": b64(b'["yesterday", "usr_x"]')}, "invalid_cursor"),
        ({"cursor": b64(b'["2026-01-01T00:00:00", "usr_x"]')}, "invalid_cursor"),
        ({"cursor": b64(b'{"joined_at": 1}')}, "invalid_cursor"),
        ({"cursor": b64(b"\xff\xfe")}, "invalid_cursor"),
        ({"limit": 0}, "validation_failed"),
        ({"limit": 500}, "validation_failed"),
        ({"limit": "ten"}, "validation_failed"),
    ],
    ids=[
        "garbage",
        "short-list",
        "not-a-date",
        "time-without-zone",  # comparing it with stored times used to be a 500
        "object",
        "not-utf8",
        "limit-0",
        "limit-500",
        "limit-text",
    ],
)
def test_a_bad_page_request_is_422(
    api: Api, store_target: StoreTarget, params: dict[str, Any], code: str
) -> None:
    owner, org = api.owner_with_org()

    refused = api.client.get(
        f"/v1/organisations/{org['id']}/members", params=params, headers=owner.auth
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == code
    assert "Traceback" not in refused.text
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []
