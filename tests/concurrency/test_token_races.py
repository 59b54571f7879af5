"""Races on the account's own secrets, every racer released at once through the HTTP app, on
SQLite, PostgreSQL and DynamoDB: one refresh token spent by many, one password-reset link
confirmed by many, and one new address signed up by many. Each secret is spent exactly once;
every other racer gets a 4xx with its code, never a 5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenantry.domain.audit import Outcome
from tests.concurrency.racing import race_requests
from tests.harness import ON_EVERY_STORE, PASSWORD, Api, StoreTarget, audit_events, unique_email
from tests.integration.account_checks import stored_user_id
from tests.integration.test_password_reset import reset_link_token

pytestmark = [ON_EVERY_STORE, pytest.mark.races]

RACERS = 12


def codes(answers: Sequence[Any]) -> Counter[tuple[int, str | None]]:
    return Counter(
        (a.status_code, a.json().get("code") if a.status_code >= 400 else None) for a in answers
    )


def test_one_refresh_token_spent_by_many_at_once_rotates_once_and_ends_the_session(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    body = {"refresh_token": account.refresh_token}

    answers = race_requests(
        api.client.app, [lambda c: c.post("/v1/auth/refresh", json=body)] * RACERS
    )

    assert codes(answers) == Counter({(200, None): 1, (401, "refresh_token_reused"): RACERS - 1})
    # A second use of a rotated token is reuse (RFC 9700 §4.14): the session ends, the
    # winner's new pair with it.
    [winner] = [a for a in answers if a.status_code == 200]
    again = api.client.post(
        "/v1/auth/refresh", json={"refresh_token": winner.json()["refresh_token"]}
    )
    assert (again.status_code, again.json()["code"]) == (401, "session_ended"), again.text
    events = audit_events(
        store_target, org_id=None, actor_id=account.user_id, action="auth.refresh"
    )
    outcomes = Counter((e.outcome, e.reason) for e in events)
    assert outcomes[(Outcome.SUCCESS, None)] == 1
    assert outcomes[(Outcome.DENIED, "refresh_token_reuse")] >= 1


def test_one_reset_link_confirmed_by_many_at_once_sets_one_password(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    token = reset_link_token(api, account.email)
    passwords = [f"a new passphrase number {n}" for n in range(RACERS)]

    def confirm(password: str) -> Callable[[TestClient], Any]:
        body = {"token": token, "new_password": password}
        return lambda client: client.post("/v1/auth/password-reset/confirm", json=body)

    answers = race_requests(api.client.app, [confirm(p) for p in passwords])

    # The losers are told what a second use of the link is told, whenever they lost.
    assert codes(answers) == Counter({(204, None): 1, (410, "token_used"): RACERS - 1})
    [set_to] = [p for p, a in zip(passwords, answers, strict=True) if a.status_code == 204]
    assert api.login(account.email, set_to).status_code == 200
    assert api.login(account.email, PASSWORD).status_code == 401
    done = audit_events(
        store_target, org_id=None, actor_id=account.user_id, outcome=Outcome.SUCCESS
    )
    assert [e.action for e in done].count("user.password_reset") == 1
    refused = audit_events(
        store_target, org_id=None, actor_id=account.user_id, outcome=Outcome.FAILURE
    )
    assert [e.reason for e in refused].count("token_used") == RACERS - 1


def test_one_new_address_signed_up_by_many_at_once_makes_one_account(
    api: Api, store_target: StoreTarget
) -> None:
    email = unique_email("racing")
    body = {"email": email, "password": PASSWORD, "name": "Racer"}

    # As many as the address may be mailed in the hour (TENANTRY_MAIL_REQUESTS_PER_EMAIL).
    racers = api.tenantry.settings.mail_requests_per_email
    answers = race_requests(
        api.client.app, [lambda c: c.post("/v1/auth/signup", json=body)] * racers
    )

    # Accepted alike whether new or taken; the loser of the very same instant is told 409.
    assert set(codes(answers)) <= {(202, None), (409, "email_taken")}, codes(answers)
    assert stored_user_id(api, email)
    made = audit_events(store_target, org_id=None, action="user.signup", outcome=Outcome.SUCCESS)
    assert sum(1 for e in made if e.actor_id == stored_user_id(api, email)) == 1
