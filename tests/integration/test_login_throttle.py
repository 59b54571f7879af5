"""Login throttling over HTTP: failed attempts per account and per client address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tenantry.domain.audit import Outcome
from tests.harness import (
    PASSWORD,
    Api,
    Mailbox,
    StoreTarget,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.integration.account_checks import assert_problem, audit_of, fail_logins
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = pytest.mark.smtp

IP_LIMIT = 3


@pytest.fixture
def strict_ip_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """A second tenantry on the same store that allows only a few failures per client IP."""
    settings = test_settings(store_target, tmp_path, login_failures_per_ip=IP_LIMIT)
    app = build_tenantry(settings, clock, smtp_server)
    yield Api(app, Mailbox(app, smtp_server))
    app.close()


def assert_throttled(api: Api, response: Any) -> None:
    assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= api.tenantry.settings.login_failure_window_seconds


def test_too_many_failures_lock_the_account_even_for_the_right_password(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    fail_logins(api, [account.email] * api.tenantry.settings.login_failures_per_account)

    response = api.login(account.email, PASSWORD)

    assert_throttled(api, response)
    event = audit_of(store_target, response, action="auth.login", outcome=Outcome.DENIED)
    assert (event.reason, event.details["email"]) == ("rate_limited", account.email)
    assert "access_token" not in response.text


def test_spelling_the_email_differently_does_not_escape_the_limit(api: Api) -> None:
    account = api.verified_account()
    limit = api.tenantry.settings.login_failures_per_account
    variants = [account.email.upper(), f" {account.email}", account.email.title()]

    fail_logins(api, [variants[i % len(variants)] for i in range(limit)])

    assert_throttled(api, api.login(account.email, PASSWORD))


def test_a_locked_account_does_not_lock_its_neighbours(api: Api) -> None:
    victim, neighbour = api.verified_account(), api.verified_account()
    fail_logins(api, [victim.email] * api.tenantry.settings.login_failures_per_account)

    response = api.login(neighbour.email, PASSWORD)

    assert response.status_code == 200, response.text


def test_a_successful_login_clears_the_account_failures(api: Api) -> None:
    account = api.verified_account()
    almost = api.tenantry.settings.login_failures_per_account - 1

    fail_logins(api, [account.email] * almost)
    assert api.login(account.email, PASSWORD).status_code == 200
    fail_logins(api, [account.email] * almost)

    assert api.login(account.email, PASSWORD).status_code == 200


def test_too_many_failures_from_one_address_lock_every_account_from_there(
    strict_ip_api: Api, store_target: StoreTarget
) -> None:
    account = strict_ip_api.verified_account()
    fail_logins(strict_ip_api, [unique_email("guess") for _ in range(IP_LIMIT)])

    response = strict_ip_api.login(account.email, PASSWORD)

    assert_throttled(strict_ip_api, response)
    event = audit_of(store_target, response, action="auth.login", outcome=Outcome.DENIED)
    assert (event.reason, event.details["email"]) == ("rate_limited", account.email)


def at_the_start_of_a_window(api: Api, clock: TestClock) -> int:
    """Moves the clock on to where a throttle window begins; returns the window's seconds.

    Windows are fixed spans counted from the Unix epoch: a lock taken as one begins lasts the
    whole window, so the test knows to the second when it lifts.
    """
    window = api.tenantry.settings.login_failure_window_seconds
    clock.advance(seconds=window - clock.now().timestamp() % window)
    return window


def retry_after(response: Any) -> int:
    """The seconds a throttled sign-in is told to wait."""
    assert_problem(response, 429, "rate_limited")
    return int(response.headers["retry-after"])


def test_a_locked_account_is_told_to_wait_less_as_time_passes(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    window = at_the_start_of_a_window(api, clock)
    account = api.verified_account()
    fail_logins(api, [account.email] * api.tenantry.settings.login_failures_per_account)

    waits = [retry_after(api.login(account.email, PASSWORD))]
    clock.advance(seconds=window - 60)
    waits.append(retry_after(api.login(account.email, PASSWORD)))
    clock.advance(seconds=59)
    last_second = api.login(account.email, PASSWORD)

    assert [*waits, retry_after(last_second)] == [window, 60, 1]
    event = audit_of(store_target, last_second, action="auth.login", outcome=Outcome.DENIED)
    assert (event.reason, event.details["email"]) == ("rate_limited", account.email)


def test_the_right_password_works_again_once_the_window_has_passed(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    window = at_the_start_of_a_window(api, clock)
    account = api.verified_account()
    fail_logins(api, [account.email] * api.tenantry.settings.login_failures_per_account)
    assert retry_after(api.login(account.email, PASSWORD)) == window

    clock.advance(seconds=window)
    response = api.login(account.email, PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["access_token"]
    event = audit_of(store_target, response, action="auth.login", outcome=Outcome.SUCCESS)
    assert (event.actor_id, event.occurred_at) == (account.user_id, clock.now())


def test_an_address_lock_lifts_once_the_window_has_passed(
    strict_ip_api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    window = at_the_start_of_a_window(strict_ip_api, clock)
    account = strict_ip_api.verified_account()
    fail_logins(strict_ip_api, [unique_email("guess") for _ in range(IP_LIMIT)])
    locked = strict_ip_api.login(account.email, PASSWORD)

    clock.advance(seconds=window)
    response = strict_ip_api.login(account.email, PASSWORD)

    assert retry_after(locked) == window
    assert response.status_code == 200, response.text
    denied = audit_of(store_target, locked, action="auth.login", outcome=Outcome.DENIED)
    assert (denied.reason, denied.details["email"]) == ("rate_limited", account.email)
    signed_in = audit_of(store_target, response, action="auth.login", outcome=Outcome.SUCCESS)
    assert signed_in.actor_id == account.user_id
