"""Login throttling shared through Redis: two service processes count the same failures."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path

from tenantry.domain.audit import Outcome
from tenantry.throttle import LimitsLoginThrottle
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.redis_server import redis_url  # noqa: F401
from tests.smtp_server import SmtpServer


def test_failures_counted_by_one_instance_throttle_the_other(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    redis_url: str,  # noqa: F811
) -> None:
    settings = test_settings(
        store_target, tmp_path, rate_limit_storage=redis_url, login_failures_per_account=3
    )
    first = build_tenantry(settings, clock, smtp_server)
    second = build_tenantry(settings, clock, smtp_server)
    api_one, api_two = (Api(t, Mailbox(t, smtp_server)) for t in (first, second))
    account = api_one.verified_account()

    for _ in range(3):
        assert api_one.login(account.email, "not the password").status_code == 401
    throttled = api_two.login(account.email)

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "rate_limited"
    assert int(throttled.headers["Retry-After"]) > 0
    denied = [
        event
        for event in audit_events(
            store_target, org_id=None, action="auth.login", outcome=Outcome.DENIED
        )
        if event.details.get("email") == account.email  # PostgreSQL is shared by the session
    ]
    assert [event.reason for event in denied] == ["rate_limited"]
    first.close()
    second.close()


WINDOW = 60
# A window starts on every minute. Far from the wall clock, so a decision made on real time
# instead of the injected clock could not pass by chance.
A_WINDOW_STARTS = datetime(2040, 1, 1, tzinfo=UTC)


def redis_throttle(url: str, clock: TestClock, *, per_ip: int = 10) -> LimitsLoginThrottle:
    return LimitsLoginThrottle(
        url, per_account=3, per_ip=per_ip, window_seconds=WINDOW, clock=clock
    )


def unique_address() -> str:
    """A client address of the test's own: the Redis outlives every test of the session."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def test_a_lock_on_redis_shrinks_and_lifts_with_the_injected_clock(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock)
    email, address = unique_email(), unique_address()

    allowed = [throttle.begin_attempt(email=email, ip_address=address) for _ in range(3)]
    waits = [throttle.begin_attempt(email=email, ip_address=address)]
    clock.advance(seconds=45)
    waits.append(throttle.begin_attempt(email=email, ip_address=address))
    clock.advance(seconds=15)

    assert (allowed, waits) == ([None, None, None], [WINDOW, 15])
    assert throttle.begin_attempt(email=email, ip_address=address) is None


def test_a_success_on_redis_wipes_the_account_count(redis_url: str) -> None:  # noqa: F811
    throttle = redis_throttle(redis_url, TestClock(A_WINDOW_STARTS))
    email = unique_email()

    for _ in range(2):
        assert throttle.begin_attempt(email=email, ip_address=None) is None
    throttle.reset(email=email)

    allowed = [throttle.begin_attempt(email=email, ip_address=None) for _ in range(3)]
    assert allowed == [None, None, None]
    assert throttle.begin_attempt(email=email, ip_address=None) == WINDOW


def test_only_failures_count_against_an_address_on_redis_until_the_window_ends(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, per_ip=2)
    address, account = unique_address(), unique_email()
    for _ in range(3):  # three sign-ins that succeed: nothing against the address
        assert throttle.begin_attempt(email=account, ip_address=address) is None
        throttle.reset(email=account)

    for guess in (unique_email("guess"), unique_email("guess")):
        assert throttle.begin_attempt(email=guess, ip_address=address) is None
        throttle.record_failure(email=guess, ip_address=address)
    clock.advance(seconds=20)

    assert throttle.begin_attempt(email=account, ip_address=address) == WINDOW - 20
    assert throttle.begin_attempt(email=account, ip_address=unique_address()) is None
    clock.advance(seconds=WINDOW - 20)
    assert throttle.begin_attempt(email=account, ip_address=address) is None


def test_parallel_guesses_on_redis_cannot_slip_past_the_account_limit(
    redis_url: str,  # noqa: F811
) -> None:
    throttle = redis_throttle(redis_url, TestClock(A_WINDOW_STARTS))
    email, guesses = unique_email(), 12
    start = threading.Barrier(guesses)
    waits: list[int | None] = []

    def guess() -> None:
        start.wait()
        waits.append(throttle.begin_attempt(email=email, ip_address=None))

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (len(waits), waits.count(None)) == (guesses, 3)
    assert {wait for wait in waits if wait is not None} == {WINDOW}
