"""Many wrong passwords for one account from one address at the same instant: the limit of
the (account, address) pair still holds.

Each attempt is counted against the pair the moment it starts, in one atomic step, so
attempts running in parallel cannot all pass a check made before any of them was counted.
Of N simultaneous guesses exactly `login_failures_per_pair` reach the password check
(401 `invalid_credentials`); every other one is refused unchecked (429 `rate_limited`), and
the audit trail tells the same story.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from httpx2 import Response

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import AuditEvent, Outcome
from tenantry.domain.errors import RateLimited, Unauthenticated
from tenantry.domain.model import User
from tenantry.edge import run_use_case
from tenantry.sessions import sign_in
from tenantry.sessions.sign_in import ClientInfo, TokenPair
from tests.concurrency.racing import race, verified_users
from tests.harness import Api, StoreTarget, audit_events

SERVICE_GUESSES = 20
HTTP_GUESSES = 10
WRONG = "a wrong password"


def login_events(target: StoreTarget, user: User) -> tuple[list[AuditEvent], list[AuditEvent]]:
    """The user's checked-and-failed logins, and the logins refused by the throttle."""
    checked = audit_events(
        target, org_id=None, action="auth.login", actor_id=user.id, outcome=Outcome.FAILURE
    )
    refused = [
        event
        for event in audit_events(target, org_id=None, action="auth.login", outcome=Outcome.DENIED)
        if event.details.get("email") == user.email  # PostgreSQL is shared by the session
    ]
    return checked, refused


def test_twenty_simultaneous_wrong_passwords_reach_the_password_check_only_five_times(
    tenantry: Tenantry, store_target: StoreTarget
) -> None:
    [user] = verified_users(tenantry, 1)
    limit = tenantry.settings.login_failures_per_pair

    def guess() -> TokenPair:
        return run_use_case(
            tenantry.store.unit_of_work,
            lambda uow: sign_in.login(
                uow,
                tenantry.deps,
                email=user.email,
                password=WRONG,
                org_id=None,
                client=ClientInfo(),
            ),
            clock=tenantry.clock,
        )

    outcomes = race([guess] * SERVICE_GUESSES)

    checked = [o for o in outcomes if isinstance(o, Unauthenticated)]
    throttled = [o for o in outcomes if isinstance(o, RateLimited)]
    unexpected = [o for o in outcomes if not isinstance(o, Unauthenticated | RateLimited)]
    assert unexpected == [], f"a guess must be checked or throttled, got {unexpected!r}"
    assert len(checked) == limit
    assert len(throttled) == SERVICE_GUESSES - limit
    assert {error.code for error in checked} == {"invalid_credentials"}
    assert {error.code for error in throttled} == {"rate_limited"}
    assert all(error.retry_after > 0 for error in throttled)
    failed, refused = login_events(store_target, user)
    assert [event.reason for event in failed] == ["wrong_password"] * limit
    assert [event.reason for event in refused] == ["rate_limited"] * (SERVICE_GUESSES - limit)


def test_ten_simultaneous_http_guesses_give_five_401_and_five_429(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    [user] = verified_users(tenantry, 1)
    limit = tenantry.settings.login_failures_per_pair

    def guess() -> Callable[[], Response]:
        # One client per thread: nothing of the HTTP client is shared between guesses.
        client = TestClient(api.client.app, raise_server_exceptions=False)
        return lambda: client.post("/v1/auth/login", json={"email": user.email, "password": WRONG})

    responses = race([guess() for _ in range(HTTP_GUESSES)])

    answers = sorted(
        (r.status_code, r.json()["code"]) if isinstance(r, Response) else (0, repr(r))
        for r in responses
    )
    assert answers == [(401, "invalid_credentials")] * limit + [(429, "rate_limited")] * (
        HTTP_GUESSES - limit
    )
    # Every outcome is a Response: anything else would have been a (0, ...) answer above.
    assert all(
        int(r.headers["Retry-After"]) > 0
        for r in responses
        if isinstance(r, Response) and r.status_code == 429
    )
    failed, refused = login_events(store_target, user)
    assert len(failed) == limit
    assert len(refused) == HTTP_GUESSES - limit
