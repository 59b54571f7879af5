"""The throttle shared through Redis: two service processes count the same attempts, on the
injected clock, and the check-and-count holds under parallel guesses."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path

from tenantry.domain.audit import Outcome
from tenantry.sessions.ports import AttemptPurpose, AttemptVerdict, ThrottleLimit
from tenantry.throttle import LimitsLoginThrottle, ThrottleFigures
from tests.harness import (
    PASSWORD,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.in_process import InProcessClient
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
        store_target, tmp_path, rate_limit_storage=redis_url, login_failures_per_pair=3
    )
    first = build_tenantry(settings, clock, smtp_server)
    second = build_tenantry(settings, clock, smtp_server)
    api_one, api_two = (Api(t, Mailbox(t, smtp_server)) for t in (first, second))
    account = api_one.verified_account()
    address = (unique_address(), 1)
    guesser_one, guesser_two = (
        InProcessClient(api.client.app, raise_server_exceptions=False, client=address)
        for api in (api_one, api_two)
    )

    for _ in range(3):
        wrong = {"email": account.email, "password": "not the password"}
        assert guesser_one.post("/v1/auth/login", json=wrong).status_code == 401
    throttled = guesser_two.post(
        "/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "rate_limited"
    assert int(throttled.headers["Retry-After"]) > 0
    assert api_two.login(account.email).status_code == 200  # from the usual address
    denied = [
        event
        for event in audit_events(
            store_target, org_id=None, action="auth.login", outcome=Outcome.DENIED
        )
        if event.details.get("email") == account.email  # PostgreSQL is shared by the session
    ]
    assert [(event.reason, event.details["limit"]) for event in denied] == [
        ("rate_limited", "pair")
    ]
    first.close()
    second.close()


WINDOW = 60
# A window starts on every minute. Far from the wall clock, so a decision made on real time
# instead of the injected clock could not pass by chance.
A_WINDOW_STARTS = datetime(2040, 1, 1, tzinfo=UTC)
ALLOWED = AttemptVerdict()


def redis_throttle(url: str, clock: TestClock, **figures: int) -> LimitsLoginThrottle:
    values = {"window_seconds": WINDOW, "per_pair": 3, "per_ip": 10, **figures}
    return LimitsLoginThrottle(url, ThrottleFigures(**values), clock=clock)


def unique_address() -> str:
    """A client address of the test's own: the Redis outlives every test of the session."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def waits(verdicts: list[AttemptVerdict]) -> list[int | None]:
    return [verdict.wait for verdict in verdicts]


def test_a_pair_lock_on_redis_shrinks_and_lifts_with_the_injected_clock(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock)
    email, address = unique_email(), unique_address()

    allowed = [throttle.begin_attempt(email=email, ip_address=address) for _ in range(3)]
    refused = [throttle.begin_attempt(email=email, ip_address=address)]
    clock.advance(seconds=45)
    refused.append(throttle.begin_attempt(email=email, ip_address=address))
    clock.advance(seconds=15)

    assert (waits(allowed), waits(refused)) == ([None] * 3, [WINDOW, 15])
    assert {verdict.limit for verdict in refused} == {ThrottleLimit.PAIR}
    assert throttle.begin_attempt(email=email, ip_address=address) == ALLOWED


def test_a_success_on_redis_wipes_the_pair_and_makes_the_address_usual(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, account_soft_limit=3, per_account=3)
    email, home = unique_email(), unique_address()

    for _ in range(2):
        assert throttle.begin_attempt(email=email, ip_address=home) == ALLOWED
    throttle.record_success(email=email, ip_address=home)  # one of the two proved the password
    for _ in range(2):  # the rest of the account's budget, spent from elsewhere
        assert throttle.begin_attempt(email=email, ip_address=unique_address()) == ALLOWED

    at_home = [throttle.begin_attempt(email=email, ip_address=home) for _ in range(4)]
    elsewhere = throttle.begin_attempt(email=email, ip_address=unique_address())

    assert waits(at_home) == [None, None, None, WINDOW]  # the pair only, counted afresh
    assert (elsewhere.limit, elsewhere.wait) == (ThrottleLimit.ACCOUNT, 86_400)


def test_only_failures_count_against_an_address_on_redis_and_its_own_accounts_are_spared(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, per_ip=2)
    address, resident, visitor = unique_address(), unique_email(), unique_email()
    for _ in range(3):  # three sign-ins that succeed: nothing against the address
        assert throttle.begin_attempt(email=resident, ip_address=address) == ALLOWED
        throttle.record_success(email=resident, ip_address=address)

    for guess in (unique_email("guess"), unique_email("guess")):
        assert throttle.begin_attempt(email=guess, ip_address=address) == ALLOWED
        throttle.record_failure(email=guess, ip_address=address)
    clock.advance(seconds=20)

    refused = throttle.begin_attempt(email=visitor, ip_address=address)
    assert (refused.wait, refused.limit) == (WINDOW - 20, ThrottleLimit.ADDRESS)
    assert throttle.begin_attempt(email=resident, ip_address=address) == ALLOWED
    assert throttle.begin_attempt(email=visitor, ip_address=unique_address()) == ALLOWED
    clock.advance(seconds=WINDOW - 20)
    assert throttle.begin_attempt(email=visitor, ip_address=address) == ALLOWED


def test_the_progressive_delay_and_the_warning_on_redis_follow_the_injected_clock(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, account_soft_limit=2, per_account=50)
    email = unique_email()

    def attempt() -> AttemptVerdict:
        return throttle.begin_attempt(email=email, ip_address=unique_address())

    verdicts = [attempt(), attempt(), attempt()]
    clock.advance(seconds=1)
    verdicts += [attempt(), attempt()]
    clock.advance(seconds=2)
    verdicts.append(attempt())

    assert waits(verdicts) == [None, None, 1, None, 2, None]
    assert [verdict.warn_owner for verdict in verdicts] == [False, False, True, False, False, False]


def test_a_password_change_on_redis_has_a_pair_of_its_own(redis_url: str) -> None:  # noqa: F811
    throttle = redis_throttle(redis_url, TestClock(A_WINDOW_STARTS))
    email, address = unique_email(), unique_address()
    throttle.record_success(email=email, ip_address=address)  # a login from there: usual

    changes = [
        throttle.begin_attempt(
            email=email, ip_address=address, purpose=AttemptPurpose.PASSWORD_CHANGE
        )
        for _ in range(4)
    ]

    assert waits(changes) == [None, None, None, WINDOW]
    assert throttle.begin_attempt(email=email, ip_address=address) == ALLOWED


def test_a_reset_on_redis_starts_every_count_of_the_account_afresh(
    redis_url: str,  # noqa: F811
) -> None:
    throttle = redis_throttle(redis_url, TestClock(A_WINDOW_STARTS))
    email, addresses = unique_email(), [unique_address(), unique_address()]
    for address in addresses:
        for _ in range(3):
            throttle.begin_attempt(email=email, ip_address=address)
        assert throttle.begin_attempt(email=email, ip_address=address).wait == WINDOW

    throttle.reset(email=email)

    assert [throttle.begin_attempt(email=email, ip_address=a) for a in addresses] == [ALLOWED] * 2


def test_parallel_guesses_on_redis_cannot_slip_past_the_pair_limit(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, account_soft_limit=100, per_account=100)
    email, address, guesses = unique_email(), unique_address(), 12
    start = threading.Barrier(guesses)
    verdicts: list[AttemptVerdict] = []

    def guess() -> None:
        start.wait()
        verdicts.append(throttle.begin_attempt(email=email, ip_address=address))

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (len(verdicts), waits(verdicts).count(None)) == (guesses, 3)
    assert {verdict.wait for verdict in verdicts if verdict.wait is not None} == {WINDOW}


def test_mail_requests_on_redis_are_limited_per_email_and_per_client_address(
    redis_url: str,  # noqa: F811
) -> None:
    clock = TestClock(A_WINDOW_STARTS)
    throttle = redis_throttle(redis_url, clock, mail_per_email=2, mail_per_ip=3)
    email, address = unique_email(), unique_address()

    same_email = [throttle.begin_mail_request(email=email, ip_address=unique_address())]
    same_email += [throttle.begin_mail_request(email=email, ip_address=unique_address())]
    same_email += [throttle.begin_mail_request(email=email, ip_address=unique_address())]
    same_address = [
        throttle.begin_mail_request(email=unique_email(), ip_address=address) for _ in range(4)
    ]
    clock.advance(seconds=3_600)

    assert same_email == [None, None, 3_600]
    assert same_address == [None, None, None, 3_600]
    assert throttle.begin_mail_request(email=email, ip_address=address) is None
