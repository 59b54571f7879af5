"""The change feed behind the authorizer's memory of live sessions (`authorizer/feed.py`,
`store/sql/listen.py`): on PostgreSQL a check takes a session it found live from memory,
and forgets it when the session ends, through `LISTEN/NOTIFY`, well within the bound; when
the feed's connection is lost, memory is dropped and checks read the store until it is
back. SQLite has no feed: every check reads the session."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tenantry.authorizer.feed import BOUND_SECONDS
from tenantry.domain.audit import EventType, Outcome
from tests.harness import PASSWORD, Account, Api, StoreTarget, audit_events, bearer, privileged

PERMISSION = "organisation:read"  # an owner holds it through the built-in OWNER role
WAIT_SECONDS = 10.0
on_postgres = pytest.mark.parametrize("store_target", ["postgres"], indirect=True)


def check(api: Api, token: str, org_id: str) -> Any:
    body = {"organisation_id": org_id, "permission": PERMISSION}
    response = api.client.post("/v1/authorize", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def outcome(answer: Any) -> str:
    return "allowed" if answer["allowed"] else str(answer["decisions"][0]["reason"])


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        time.sleep(0.02)


def owner_remembered(api: Api) -> tuple[Account, str]:
    """An owner whose session the authorizer has remembered, with the feed vouching for it."""
    owner, org = api.owner_with_org()
    memory = api.tenantry.authorizer
    assert outcome(check(api, owner.access_token, org["id"])) == "allowed"  # starts the feed
    eventually(lambda: memory.sessions.vouched() is not None, "the feed's first heartbeat")
    assert outcome(check(api, owner.access_token, org["id"])) == "allowed"  # remembers it
    return owner, org["id"]


def hits(api: Api) -> int:
    return api.tenantry.authorizer.sessions.hits


def token_denials(target: StoreTarget, org_id: str, user_id: str) -> list[str | None]:
    events = audit_events(target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    return [e.reason for e in events if e.event_type is EventType.AUTHORIZATION]


@on_postgres
def test_a_remembered_session_answers_without_a_read_and_a_logout_is_heard_at_once(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org_id = owner_remembered(api)
    before = hits(api)

    answers = [outcome(check(api, owner.access_token, org_id)) for _ in range(5)]
    from_memory = hits(api) - before
    memory = api.tenantry.authorizer.sessions
    session_id = _session_id(api, owner)
    remembered = memory.remembers(session_id)
    logout = api.client.post("/v1/auth/logout", headers=owner.auth)
    # Only the logout's notification takes the session out of memory; the bound running
    # out would merely stop its use.
    eventually(lambda: not memory.remembers(session_id), "the session forgotten")
    after_logout = outcome(check(api, owner.access_token, org_id))

    assert answers == ["allowed"] * 5
    # Every one, unless the machine starved the listener past the bound (then it reads).
    assert from_memory > 0
    assert remembered
    assert logout.status_code == 204, logout.text
    assert after_logout == "token_revoked"
    assert token_denials(store_target, org_id, owner.user_id) == ["token_revoked"]


@on_postgres
def test_a_password_change_ends_the_other_sessions_a_check_remembered(api: Api) -> None:
    owner, org_id = owner_remembered(api)
    other_device = api.switch_org(api_login(api, owner), org_id)
    assert outcome(check(api, other_device.access_token, org_id)) == "allowed"
    change = {"current_password": PASSWORD, "new_password": "another-long-passphrase-2026"}

    changed = api.client.post("/v1/me/password", json=change, headers=other_device.auth)
    time.sleep(BOUND_SECONDS)  # the documented bound, whatever the feed did meanwhile

    assert changed.status_code == 204, changed.text
    assert outcome(check(api, owner.access_token, org_id)) == "token_revoked"
    assert outcome(check(api, other_device.access_token, org_id)) == "allowed"


@on_postgres
def test_a_lost_feed_drops_what_it_vouched_for_and_checks_read_the_store_until_it_is_back(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org_id = owner_remembered(api)
    listening = api.tenantry.authorizer.listening
    assert listening is not None

    with privileged(store_target) as connection:
        ended = connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": listening.application_name},
        ).scalars()
        assert list(ended) == [True]
    # While the feed is away, a session may end unheard: it must still not be taken.
    logout = api.client.post("/v1/auth/logout", headers=owner.auth)
    time.sleep(BOUND_SECONDS)
    refused = outcome(check(api, owner.access_token, org_id))
    memory = api.tenantry.authorizer.sessions
    eventually(lambda: memory.vouched() is not None, "the feed's return")

    assert logout.status_code == 204, logout.text
    assert refused == "token_revoked"
    assert token_denials(store_target, org_id, owner.user_id) == ["token_revoked"]


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_without_a_feed_every_check_reads_the_session(api: Api) -> None:
    owner, org = api.owner_with_org()

    answers = [outcome(check(api, owner.access_token, org["id"])) for _ in range(3)]
    logout = api.client.post("/v1/auth/logout", headers=owner.auth)

    assert answers == ["allowed"] * 3
    assert api.tenantry.authorizer.listening is None
    assert hits(api) == 0
    assert logout.status_code == 204
    assert outcome(check(api, owner.access_token, org["id"])) == "token_revoked"


def api_login(api: Api, account: Account) -> Account:
    tokens = api.login(account.email).json()
    return Account(
        account.email,
        PASSWORD,
        account.user_id,
        tokens["access_token"],
        tokens["refresh_token"],
    )


def _session_id(api: Api, account: Account) -> str:
    return api.tenantry.signer.verify_access_token(account.access_token).session_id
