"""Password reset (by email link) and password change (signed in) over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tenantry.domain.audit import ActorType, Outcome
from tests.harness import ON_EVERY_STORE, PASSWORD, Account, Api, Mailbox, StoreTarget, unique_email
from tests.in_process import InProcessClient
from tests.integration.account_checks import (
    assert_problem,
    audit_of,
    audit_trail,
    fail_logins,
    log_in_again,
    me,
    refresh,
    unverified_account,
)

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [ON_EVERY_STORE, pytest.mark.smtp]


@pytest.fixture(autouse=True)
def _queued_mail_is_delivered(mailbox: Mailbox) -> Iterator[None]:
    """Mail a test queued and never read is sent when it ends: on the shared PostgreSQL, a
    later test would otherwise receive it."""
    yield
    mailbox.deliver()


NEW_PASSWORD = "a brand new passphrase"
TRAVEL = "192.0.2.44"  # an address the account has never signed in from


def request_reset(api: Api, email: str) -> Any:
    return api.client.post("/v1/auth/password-reset", json={"email": email})


def reset_link_token(api: Api, email: str) -> str:
    response = request_reset(api, email)
    assert response.status_code == 202, response.text
    return api.mailbox.last_link_token(email, "/reset-password")


def confirm_reset(api: Api, token: str, new_password: str = NEW_PASSWORD) -> Any:
    return api.client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )


def change_password(api: Api, account: Account, current: str, new: str = NEW_PASSWORD) -> Any:
    return change_password_from(api.client, account, current, new)


def change_password_from(
    client: TestClient, account: Account, current: str, new: str = NEW_PASSWORD
) -> Any:
    return client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=account.auth,
    )


def login_from(client: TestClient, email: str, password: str) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def subjects(mailbox: Mailbox, email: str) -> list[str]:
    return [message["Subject"] for message in mailbox.messages_to(email)]


# --- reset ---------------------------------------------------------------------------------


def test_a_reset_request_answers_the_same_whether_or_not_the_email_has_an_account(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    stranger = unique_email("stranger")

    known = request_reset(api, account.email)
    unknown = request_reset(api, stranger)

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.headers["content-type"] == unknown.headers["content-type"]
    assert subjects(mailbox, account.email).count("Reset your password") == 1
    assert mailbox.messages_to(stranger) == []
    event = audit_of(store_target, known, action="user.password_reset_request")
    assert (event.actor_id, event.outcome) == (account.user_id, Outcome.SUCCESS)


def test_a_reset_request_for_an_unknown_email_is_on_record_and_sends_nothing(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    stranger = unique_email("stranger")

    response = request_reset(api, stranger.upper())

    assert response.status_code == 202, response.text
    assert mailbox.deliver() == []  # nothing at all was sent, to any spelling of the address
    event = audit_of(store_target, response, action="user.password_reset_request")
    assert (event.actor_type, event.actor_id, event.outcome, event.reason) == (
        ActorType.ANONYMOUS,
        None,
        Outcome.FAILURE,
        "unknown_email",
    )
    assert event.details == {"email": stranger}  # as the account would be looked up


def test_a_reset_sets_the_new_password_and_ends_every_session(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)
    token = reset_link_token(api, laptop.email)

    response = confirm_reset(api, token)

    assert response.status_code == 204, response.text
    event = audit_of(store_target, response, action="user.password_reset")
    assert (event.actor_id, event.outcome) == (laptop.user_id, Outcome.SUCCESS)
    assert event.details["sessions_revoked"] == 2
    assert_problem(api.login(laptop.email, PASSWORD), 401, "invalid_credentials")
    assert api.login(laptop.email, NEW_PASSWORD).status_code == 200
    for device in (laptop, phone):
        assert_problem(me(api, device.access_token), 401, "token_revoked")
        assert_problem(refresh(api, device.refresh_token), 401, "session_ended")
    assert "Your password was changed" in subjects(mailbox, laptop.email)


def test_a_completed_reset_lifts_the_login_locks_at_once_at_every_address(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    limit = api.tenantry.settings.login_failures_per_pair
    elsewhere = InProcessClient(api.client.app, raise_server_exceptions=False, client=(TRAVEL, 1))
    fail_logins(api, [account.email] * limit)
    for _ in range(limit):
        assert login_from(elsewhere, account.email, "a guess").status_code == 401
    assert_problem(api.login(account.email, PASSWORD), 429, "rate_limited")
    assert_problem(login_from(elsewhere, account.email, PASSWORD), 429, "rate_limited")

    reset = confirm_reset(api, reset_link_token(api, account.email))

    assert reset.status_code == 204, reset.text
    assert audit_of(store_target, reset, action="user.password_reset").outcome is Outcome.SUCCESS
    login = api.login(account.email, NEW_PASSWORD)  # the window has not moved on
    assert login.status_code == 200, login.text
    event = audit_of(store_target, login, action="auth.login")
    assert (event.actor_id, event.outcome) == (account.user_id, Outcome.SUCCESS)
    assert login_from(elsewhere, account.email, NEW_PASSWORD).status_code == 200
    failures = audit_trail(store_target, account.user_id).count(("auth.login", "FAILURE"))
    assert failures == 2 * limit


def test_a_reset_link_works_once(api: Api, store_target: StoreTarget) -> None:
    account = api.verified_account()
    token = reset_link_token(api, account.email)
    assert confirm_reset(api, token).status_code == 204

    again = confirm_reset(api, token, "yet another passphrase")

    assert_problem(again, 410, "token_used")
    event = audit_of(store_target, again, action="user.password_reset", actor_id=account.user_id)
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "token_used")
    assert api.login(account.email, NEW_PASSWORD).status_code == 200


def test_a_reset_link_expires(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    account = api.verified_account()
    token = reset_link_token(api, account.email)

    clock.advance(seconds=api.tenantry.settings.reset_token_ttl_seconds + 1)
    response = confirm_reset(api, token)

    assert_problem(response, 410, "token_expired")
    event = audit_of(store_target, response, action="user.password_reset", actor_id=account.user_id)
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "token_expired")
    assert api.login(account.email, PASSWORD).status_code == 200


def test_a_newer_reset_link_replaces_the_older_one(api: Api) -> None:
    account = api.verified_account()
    older = reset_link_token(api, account.email)
    newer = reset_link_token(api, account.email)

    assert_problem(confirm_reset(api, older), 410, "token_expired")
    assert confirm_reset(api, newer).status_code == 204


def test_a_weak_new_password_does_not_use_up_the_link(api: Api) -> None:
    account = api.verified_account()
    token = reset_link_token(api, account.email)

    assert_problem(confirm_reset(api, token, "short"), 422, "weak_password")

    assert confirm_reset(api, token).status_code == 204
    assert api.login(account.email, NEW_PASSWORD).status_code == 200


def test_a_verification_link_is_not_a_reset_link(api: Api, mailbox: Mailbox) -> None:
    email, _ = unverified_account(api)
    verification = mailbox.last_link_token(email, "/verify-email")

    assert_problem(confirm_reset(api, verification), 422, "invalid_token")


def test_a_reset_also_proves_an_unverified_mailbox(api: Api) -> None:
    email, _ = unverified_account(api)

    assert confirm_reset(api, reset_link_token(api, email)).status_code == 204

    assert api.login(email, NEW_PASSWORD).status_code == 200


# --- change --------------------------------------------------------------------------------


def test_changing_the_password_needs_the_current_one(api: Api, store_target: StoreTarget) -> None:
    account = api.verified_account()

    response = change_password(api, account, current="not my password")

    assert_problem(response, 403, "invalid_current_password")
    assert "www-authenticate" not in response.headers  # the token itself is fine
    event = audit_of(store_target, response, action="user.password_change")
    assert (event.actor_id, event.outcome) == (account.user_id, Outcome.FAILURE)
    assert event.reason == "wrong_current_password"
    assert_problem(api.login(account.email, NEW_PASSWORD), 401, "invalid_credentials")
    assert me(api, account.access_token).status_code == 200


def test_guessing_the_current_password_is_throttled_but_never_locks_the_owners_login(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    for _ in range(api.tenantry.settings.login_failures_per_pair):
        assert change_password(api, account, current="a guess").status_code == 403

    throttled = change_password(api, account, current=PASSWORD)
    login = api.login(account.email)

    assert_problem(throttled, 429, "rate_limited")
    assert int(throttled.headers["Retry-After"]) > 0
    event = audit_of(store_target, throttled, action="user.password_change")
    assert (event.outcome, event.reason, event.details) == (
        Outcome.DENIED,
        "rate_limited",
        {"limit": "pair"},
    )
    assert login.status_code == 200, login.text  # a pair limit of its own
    assert audit_of(store_target, login, action="auth.login").actor_id == account.user_id
    assert_problem(api.login(account.email, NEW_PASSWORD), 401, "invalid_credentials")


def test_current_password_guesses_from_elsewhere_count_against_the_account(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    pair, soft = (
        api.tenantry.settings.login_failures_per_pair,
        api.tenantry.settings.login_account_soft_limit,
    )
    thief_addresses = [f"203.0.113.{n}" for n in range(soft // pair + 1)]
    guesses = 0
    for address in thief_addresses:  # a stolen token, used from several places
        thief = InProcessClient(api.client.app, raise_server_exceptions=False, client=(address, 1))
        for _ in range(min(pair, soft - guesses)):
            response = change_password_from(thief, account, current="a guess")
            assert_problem(response, 403, "invalid_current_password")
            guesses += 1

    slowed = change_password_from(thief, account, current="yet another guess")
    travelling = InProcessClient(api.client.app, raise_server_exceptions=False, client=(TRAVEL, 1))
    new_place = login_from(travelling, account.email, PASSWORD)

    assert_problem(slowed, 429, "rate_limited")
    assert audit_of(store_target, slowed, action="user.password_change").details == {
        "limit": "account"
    }
    assert_problem(new_place, 429, "rate_limited")  # the account's budget is spent
    assert api.login(account.email).status_code == 200  # the usual address is not


def test_changing_the_password_ends_the_other_sessions_only(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)

    response = change_password(api, laptop, current=PASSWORD)

    assert response.status_code == 204, response.text
    event = audit_of(store_target, response, action="user.password_change")
    assert (event.actor_id, event.outcome) == (laptop.user_id, Outcome.SUCCESS)
    assert_problem(me(api, phone.access_token), 401, "token_revoked")
    assert_problem(refresh(api, phone.refresh_token), 401, "session_ended")
    assert me(api, laptop.access_token).status_code == 200
    assert refresh(api, laptop.refresh_token).status_code == 200
    assert_problem(api.login(laptop.email, PASSWORD), 401, "invalid_credentials")
    assert api.login(laptop.email, NEW_PASSWORD).status_code == 200
    assert "Your password was changed" in subjects(mailbox, laptop.email)


def test_a_weak_new_password_is_refused_on_change(api: Api) -> None:
    account = api.verified_account()

    assert_problem(change_password(api, account, PASSWORD, new="short"), 422, "weak_password")

    assert api.login(account.email, PASSWORD).status_code == 200
