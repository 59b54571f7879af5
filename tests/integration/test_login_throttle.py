"""Login throttling over HTTP: the (account, address) pair, the account from addresses it does
not use (slowed down beyond a soft limit, its owner warned), failed logins per address, and
the owner's usual address, which someone guessing elsewhere can never lock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tenantry.domain.audit import Outcome
from tests.harness import (
    PASSWORD,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    audit_events,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.in_process import InProcessClient
from tests.integration.account_checks import assert_problem, audit_of, fail_logins
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = pytest.mark.smtp


@pytest.fixture(autouse=True)
def _queued_mail_is_delivered(mailbox: Mailbox) -> Iterator[None]:
    """Mail a test queued and never read is sent when it ends: on the shared PostgreSQL, a
    later test would otherwise receive it."""
    yield
    mailbox.deliver()


IP_LIMIT = 3
WARNING = "Someone is trying to sign in to your account"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def somewhere_else(api: Api, address: str | None = None) -> TestClient:
    """The API as seen from another client address than the harness's own ("testclient",
    where `verified_account` signed in: the account's usual address)."""
    return InProcessClient(
        api.client.app, raise_server_exceptions=False, client=(address or next(_addresses), 1)
    )


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def guess_from_new_addresses(api: Api, email: str, count: int) -> None:
    """One wrong password from each of `count` addresses never seen before."""
    for _ in range(count):
        assert_problem(
            login(somewhere_else(api), email, "a wrong guess"), 401, "invalid_credentials"
        )


def assert_throttled(api: Api, response: Any, *, within: int | None = None) -> int:
    """A 429 `rate_limited` with a Retry-After in whole seconds; returns it."""
    assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= (within or api.tenantry.settings.login_failure_window_seconds)
    return int(retry_after)


def denied(target: StoreTarget, response: Any) -> tuple[str | None, str, str]:
    """(reason, email, limit) of the refusal the request behind `response` recorded."""
    event = audit_of(target, response, action="auth.login", outcome=Outcome.DENIED)
    return event.reason, event.details["email"], event.details["limit"]


def signed_in(target: StoreTarget, response: Any, account: Account) -> None:
    assert response.status_code == 200, response.text
    event = audit_of(target, response, action="auth.login", outcome=Outcome.SUCCESS)
    assert event.actor_id == account.user_id


def at_the_start_of(clock: TestClock, window: int) -> None:
    """Moves the clock on to where a throttle window begins (windows are fixed spans counted
    from the Unix epoch), so that a test knows to the second when its locks lift."""
    clock.advance(seconds=window - clock.now().timestamp() % window)


# --- the pair: one account from one address --------------------------------------------------


def test_wrong_passwords_from_one_address_lock_that_address_out_of_the_account_only(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    attacker = somewhere_else(api)
    for _ in range(api.tenantry.settings.login_failures_per_pair):
        assert_problem(login(attacker, account.email, "a guess"), 401, "invalid_credentials")

    locked = login(attacker, account.email)  # even the right password, from there
    owner = api.login(account.email)  # the usual address
    travelling = login(somewhere_else(api), account.email)  # an address never used before

    assert_throttled(api, locked)
    assert "access_token" not in locked.text
    assert denied(store_target, locked) == ("rate_limited", account.email, "pair")
    signed_in(store_target, owner, account)
    signed_in(store_target, travelling, account)


def test_spelling_the_email_differently_does_not_escape_the_pair_limit(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    attacker = somewhere_else(api)
    variants = [account.email.upper(), f" {account.email}", account.email.title()]

    for n in range(api.tenantry.settings.login_failures_per_pair):
        guess = login(attacker, variants[n % len(variants)], "a guess")
        assert_problem(guess, 401, "invalid_credentials")
    locked = login(attacker, account.email)

    assert_throttled(api, locked)
    assert denied(store_target, locked) == ("rate_limited", account.email, "pair")


def test_a_locked_pair_does_not_lock_a_neighbour_from_the_same_address(
    api: Api, store_target: StoreTarget
) -> None:
    victim, neighbour = api.verified_account(), api.verified_account()
    fail_logins(api, [victim.email] * api.tenantry.settings.login_failures_per_pair)
    locked = api.login(victim.email)

    assert_throttled(api, locked)
    assert denied(store_target, locked) == ("rate_limited", victim.email, "pair")
    signed_in(store_target, api.login(neighbour.email), neighbour)


def test_a_successful_login_clears_the_pair_failures(api: Api) -> None:
    account = api.verified_account()
    almost = api.tenantry.settings.login_failures_per_pair - 1

    fail_logins(api, [account.email] * almost)
    assert api.login(account.email).status_code == 200
    fail_logins(api, [account.email] * almost)

    assert api.login(account.email).status_code == 200


def test_a_locked_pair_is_told_to_wait_less_as_time_passes_and_then_gets_in(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    window = api.tenantry.settings.login_failure_window_seconds
    at_the_start_of(clock, window)
    account = api.verified_account()
    fail_logins(api, [account.email] * api.tenantry.settings.login_failures_per_pair)

    waits = [assert_throttled(api, api.login(account.email))]
    clock.advance(seconds=window - 60)
    waits.append(assert_throttled(api, api.login(account.email)))
    clock.advance(seconds=59)
    last_second = api.login(account.email)
    waits.append(assert_throttled(api, last_second))
    clock.advance(seconds=1)
    response = api.login(account.email)

    assert waits == [window, 60, 1]
    assert denied(store_target, last_second) == ("rate_limited", account.email, "pair")
    signed_in(store_target, response, account)


# --- the account, from addresses it does not use ---------------------------------------------


def test_the_owner_signs_in_from_the_usual_address_while_the_account_is_hammered(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    guess_from_new_addresses(api, account.email, api.tenantry.settings.login_account_soft_limit)

    elsewhere = login(somewhere_else(api), account.email)  # right password, new address
    owner = api.login(account.email)

    assert assert_throttled(api, elsewhere) == 1  # a short wait, not a lock
    assert denied(store_target, elsewhere) == ("rate_limited", account.email, "account")
    signed_in(store_target, owner, account)


def test_beyond_the_soft_limit_each_attempt_waits_twice_as_long_as_the_last(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    at_the_start_of(clock, api.tenantry.settings.login_account_window_seconds)
    account = api.verified_account()
    guess_from_new_addresses(api, account.email, api.tenantry.settings.login_account_soft_limit)

    waits = []
    for _ in range(5):
        waits.append(assert_throttled(api, login(somewhere_else(api), account.email, "a guess")))
        clock.advance(seconds=waits[-1])
        guess_from_new_addresses(api, account.email, 1)  # its turn has come: checked, wrong

    assert waits == [1, 2, 4, 8, 16]
    refusals = [
        event
        for event in audit_events(
            store_target, org_id=None, action="auth.login", outcome=Outcome.DENIED
        )
        if event.details.get("email") == account.email
    ]
    assert [event.details["limit"] for event in refusals] == ["account"] * 5


def test_past_the_hard_limit_the_account_waits_for_its_window_to_end(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    settings = test_settings(
        store_target, tmp_path, login_account_soft_limit=2, login_failures_per_account=3
    )
    app = build_tenantry(settings, clock, smtp_server)
    try:
        api = Api(app, Mailbox(app, smtp_server))
        window = settings.login_account_window_seconds
        at_the_start_of(clock, window)
        account = api.verified_account()
        guess_from_new_addresses(api, account.email, 2)
        clock.advance(seconds=1)
        guess_from_new_addresses(api, account.email, 1)  # the third and last of the day

        clock.advance(hours=1)
        locked = login(somewhere_else(api), account.email)
        clock.advance(seconds=window - 3601)
        tomorrow = login(somewhere_else(api), account.email)

        assert assert_throttled(api, locked, within=window) == window - 3601
        assert denied(store_target, locked) == ("rate_limited", account.email, "account")
        signed_in(store_target, tomorrow, account)
        signed_in(store_target, api.login(account.email), account)
    finally:
        app.close()


def test_the_owner_is_warned_once_a_window_when_the_soft_limit_is_crossed(
    api: Api, mailbox: Mailbox, clock: TestClock, store_target: StoreTarget
) -> None:
    at_the_start_of(clock, api.tenantry.settings.login_account_window_seconds)
    account = api.verified_account()
    soft = api.tenantry.settings.login_account_soft_limit
    guess_from_new_addresses(api, account.email, soft)
    assert WARNING not in subjects(mailbox, account.email)

    first_beyond = login(somewhere_else(api), account.email, "a guess")
    clock.advance(seconds=1)
    guess_from_new_addresses(api, account.email, 1)
    clock.advance(days=1)  # the next account window: counted afresh
    guess_from_new_addresses(api, account.email, soft)
    assert_throttled(api, login(somewhere_else(api), account.email, "a guess"))

    assert_throttled(api, first_beyond)
    assert subjects(mailbox, account.email).count(WARNING) == 2
    [warning, *_] = [m for m in mailbox.messages_to(account.email) if m["Subject"] == WARNING]
    body = warning.get_body(preferencelist=("plain",))
    assert body is not None
    assert "usual devices still work" in body.get_content()
    warned = audit_events(store_target, org_id=None, action="auth.attack_warning")
    assert [(e.resource_id, e.reason) for e in warned if e.resource_id == account.user_id] == [
        (account.user_id, "soft_limit_crossed")
    ] * 2
    assert audit_of(store_target, first_beyond, action="auth.attack_warning").occurred_at == (
        clock.now() - timedelta(days=1, seconds=1)
    )


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(
    api: Api, mailbox: Mailbox, clock: TestClock
) -> None:
    at_the_start_of(clock, api.tenantry.settings.login_account_window_seconds)
    known, unknown = api.verified_account().email, unique_email("nobody")
    soft = api.tenantry.settings.login_account_soft_limit

    def answers(email: str) -> list[tuple[int, str | None]]:
        seen = []
        for _ in range(soft + 3):
            response = login(somewhere_else(api), email, "a guess")
            seen.append((response.status_code, response.headers.get("retry-after")))
        return seen

    known_answers = answers(known)
    unknown_answers = answers(unknown)

    assert known_answers == unknown_answers
    assert known_answers[soft:] == [(429, "1")] * 3
    assert mailbox.messages_to(unknown) == []  # no account, so no one to warn


def test_an_address_is_usual_only_for_a_while_after_a_login_from_it(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    settings = test_settings(store_target, tmp_path, login_usual_address_days=1)
    app = build_tenantry(settings, clock, smtp_server)
    try:
        api = Api(app, Mailbox(app, smtp_server))
        account = api.verified_account()  # signed in from the harness's address
        clock.advance(days=2)  # the one-day period after that one has passed
        guess_from_new_addresses(api, account.email, settings.login_account_soft_limit)

        no_longer_usual = api.login(account.email)

        assert_throttled(api, no_longer_usual)
        assert denied(store_target, no_longer_usual) == ("rate_limited", account.email, "account")
    finally:
        app.close()


def subjects(mailbox: Mailbox, email: str) -> list[str]:
    return [message["Subject"] for message in mailbox.messages_to(email)]


# --- the address: failed logins across accounts ----------------------------------------------


@pytest.fixture
def strict_ip_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """A second tenantry on the same store that allows only a few failures per client IP."""
    settings = test_settings(store_target, tmp_path, login_failures_per_ip=IP_LIMIT)
    app = build_tenantry(settings, clock, smtp_server)
    yield Api(app, Mailbox(app, smtp_server))
    app.close()


def test_failures_across_accounts_lock_an_address_out_of_all_but_its_own_accounts(
    strict_ip_api: Api, store_target: StoreTarget
) -> None:
    api = strict_ip_api
    office = somewhere_else(api)
    resident, visitor = api.verified_account(), api.verified_account()
    assert login(office, resident.email).status_code == 200  # the office is usual for them
    for _ in range(IP_LIMIT):
        assert_problem(login(office, unique_email("guess"), "a guess"), 401, "invalid_credentials")

    refused = login(office, visitor.email)
    welcome = login(office, resident.email)

    assert_throttled(api, refused)
    assert denied(store_target, refused) == ("rate_limited", visitor.email, "address")
    signed_in(store_target, welcome, resident)
    assert api.login(visitor.email).status_code == 200  # from another address


def test_an_address_lock_lifts_once_the_window_has_passed(
    strict_ip_api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    api = strict_ip_api
    window = api.tenantry.settings.login_failure_window_seconds
    at_the_start_of(clock, window)
    account = api.verified_account()
    stuffer = somewhere_else(api)
    for _ in range(IP_LIMIT):
        assert_problem(login(stuffer, unique_email("guess"), "a guess"), 401, "invalid_credentials")
    locked = login(stuffer, account.email)

    clock.advance(seconds=window)
    response = login(stuffer, account.email)

    assert assert_throttled(api, locked) == window
    assert denied(store_target, locked) == ("rate_limited", account.email, "address")
    signed_in(store_target, response, account)
