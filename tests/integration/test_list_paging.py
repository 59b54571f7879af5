"""The caller's lists, paged like the member list: `GET /v1/me/sessions` newest first and
`GET /v1/organisations` by join time, each with a validated `limit` and an opaque cursor."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from tenantry.domain.audit import Outcome
from tenantry.domain.errors import Invalid
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.organisations import service as orgs
from tenantry.sessions import service as sessions
from tenantry.store.sql.tables import sessions as session_rows
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    Account,
    Api,
    StoreTarget,
    audit_events,
    dynamo_rows,
    privileged,
)
from tests.integration.account_checks import assert_problem, log_in_again, session_ids
from tests.org_builders import register_org

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [ON_EVERY_STORE, pytest.mark.smtp]


def pages(api: Api, account: Account, url: str, limit: int) -> list[dict[str, Any]]:
    """Every page of `url`, following `next_cursor` until it is null."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):  # a cursor that never ends must fail the test, not hang it
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = api.client.get(url, params=params, headers=account.auth)
        assert response.status_code == 200, response.text
        found.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"pagination did not end after {len(found)} pages")


def stored_live_session_ids(target: StoreTarget, user_id: str) -> set[str]:
    """The ids of the user's sessions that were never revoked, as the store holds them."""
    if target.name == "dynamo":
        rows = dynamo_rows(target.url, "session")
        return {
            r.id for r in rows if r.user_id == user_id and getattr(r, "revoked_at", None) is None
        }
    with privileged(target) as db:
        query = sa.select(session_rows.c.id).where(
            session_rows.c.user_id == user_id, session_rows.c.revoked_at.is_(None)
        )
        return set(db.scalars(query))


# --- GET /v1/me/sessions --------------------------------------------------------------------


def test_my_sessions_are_paged_newest_first_each_listed_once(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    laptop = api.verified_account()
    devices = [laptop]
    for _ in range(4):
        clock.advance(seconds=1)
        devices.append(log_in_again(api, laptop))
    phone = log_in_again(api, laptop)  # begun at the same instant as the last one

    found = pages(api, phone, "/v1/me/sessions", limit=2)

    assert [len(page["items"]) for page in found] == [2, 2, 2]
    listed = [item for page in found for item in page["items"]]
    begun = [datetime.fromisoformat(item["created_at"]) for item in listed]
    assert begun == sorted(begun, reverse=True)
    assert len({item["id"] for item in listed}) == 6
    assert {item["id"] for item in listed} == stored_live_session_ids(store_target, laptop.user_id)
    assert [item["current"] for item in listed].count(True) == 1
    tied = [item["id"] for item in listed if item["created_at"] == listed[0]["created_at"]]
    assert tied == sorted(tied)  # sessions begun together go by id
    assert (
        audit_events(store_target, org_id=None, actor_id=laptop.user_id, outcome=Outcome.DENIED)
        == []
    )


def test_sessions_of_an_ended_epoch_never_take_a_place_on_a_page(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    oldest = api.verified_account()
    clock.advance(seconds=1)
    for _ in range(2):
        log_in_again(api, oldest)
    ended = set(session_ids(api, oldest)) - {current_session(api, oldest)}
    # The oldest session changes the password: it is carried into the new epoch, and the two
    # newer ones end with the old epoch (their rows stay as they were, not revoked).
    changed = api.client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD + " and more"},
        headers=oldest.auth,
    )
    assert changed.status_code == 204, changed.text

    page = api.client.get("/v1/me/sessions", params={"limit": 1}, headers=oldest.auth).json()

    assert [(item["id"], item["current"]) for item in page["items"]] == [
        (current_session(api, oldest), True)
    ]
    assert page["next_cursor"] is None
    assert ended <= stored_live_session_ids(store_target, oldest.user_id)


def current_session(api: Api, account: Account) -> str:
    [current] = [sid for sid, is_current in session_ids(api, account).items() if is_current]
    return current


# --- GET /v1/organisations ------------------------------------------------------------------


def test_my_organisations_are_paged_by_join_time(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner = api.verified_account()
    registered = []
    for n in range(5):
        clock.advance(seconds=1)
        response = register_org(api, owner, f"paged-{n}-{owner.user_id[-8:]}")
        assert response.status_code == 201, response.text
        registered.append(response.json()["id"])

    found = pages(api, owner, "/v1/organisations", limit=2)

    assert [len(page["items"]) for page in found] == [2, 2, 1]
    assert [page["next_cursor"] is None for page in found] == [False, False, True]
    listed = [item for page in found for item in page["items"]]
    assert [item["id"] for item in listed] == registered
    assert {item["org_role"] for item in listed} == {"OWNER"}


def test_deleted_organisations_leave_short_pages_but_the_cursor_leads_on(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner = api.verified_account()
    registered = []
    for n in range(5):
        clock.advance(seconds=1)
        response = register_org(api, owner, f"gaps-{n}-{owner.user_id[-8:]}")
        assert response.status_code == 201, response.text
        registered.append(response.json()["id"])
    for org_id in registered[2:4]:
        scoped = api.switch_org(log_in_again(api, owner), org_id)
        deleted = api.client.delete(f"/v1/organisations/{org_id}", headers=scoped.auth)
        assert deleted.status_code == 204, deleted.text

    found = pages(api, owner, "/v1/organisations", limit=2)

    assert (
        [[item["id"] for item in page["items"]] for page in found]
        == [
            registered[0:2],
            [],  # both organisations of this page of memberships are deleted
            registered[4:],
        ]
    )
    assert [page["next_cursor"] is None for page in found] == [False, False, True]


# --- refusals -------------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


LISTS = ["/v1/me/sessions", "/v1/organisations"]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not a cursor!"}, "invalid_cursor"),
        ({"cursor": b64(b"[1]")}, "invalid_cursor"),
        ({"cursor": b64(b'["sessions", "yesterday", "ses_x"]')}, "invalid_cursor"),
        ({"cursor": b64(b'["memberships", "2026-01-01T00:00:00", "org_x"]')}, "invalid_cursor"),
        ({"cursor": b64(b'["2026-01-01T00:00:00+00:00", "usr_x"]')}, "invalid_cursor"),
        ({"cursor": b64(b"\xff\xfe")}, "invalid_cursor"),
        ({"cursor": "x" * 201}, "validation_failed"),
        ({"limit": 0}, "validation_failed"),
        ({"limit": 201}, "validation_failed"),
        ({"limit": "ten"}, "validation_failed"),
    ],
    ids=[
        "garbage",
        "short-list",
        "not-a-date",
        "time-without-zone",
        "a-member-list-cursor",
        "not-utf8",
        "too-long",
        "limit-0",
        "limit-201",
        "limit-text",
    ],
)
def test_a_bad_page_request_is_422(
    api: Api, store_target: StoreTarget, url: str, params: dict[str, Any], code: str
) -> None:
    account = api.verified_account()

    refused = api.client.get(url, params=params, headers=account.auth)

    assert_problem(refused, 422, code)
    assert "Traceback" not in refused.text


def test_one_lists_cursor_is_refused_by_the_other(api: Api, clock: TestClock) -> None:
    owner = api.verified_account()
    for n in range(2):
        clock.advance(seconds=1)
        assert register_org(api, owner, f"cross-{n}-{owner.user_id[-8:]}").status_code == 201
        log_in_again(api, owner)
    org_cursor = pages(api, owner, "/v1/organisations", limit=1)[0]["next_cursor"]
    session_cursor = pages(api, owner, "/v1/me/sessions", limit=1)[0]["next_cursor"]

    for url, cursor in (("/v1/me/sessions", org_cursor), ("/v1/organisations", session_cursor)):
        refused = api.client.get(url, params={"cursor": cursor}, headers=owner.auth)
        assert_problem(refused, 422, "invalid_cursor")


@pytest.mark.parametrize("limit", [0, 201])
@pytest.mark.parametrize("use_case", [sessions.list_sessions, orgs.list_my_organisations])
def test_the_services_refuse_a_page_size_out_of_range_whatever_the_edge(
    api: Api, limit: int, use_case: Callable[..., object]
) -> None:
    caller = Principal(user_id=api.verified_account().user_id)
    tenantry = api.tenantry

    with pytest.raises(Invalid) as raised:
        run_use_case(
            tenantry.store.unit_of_work,
            lambda uow: use_case(uow, tenantry.deps, caller, limit=limit),
            clock=tenantry.clock,
        )

    assert raised.value.code == "invalid_limit"
