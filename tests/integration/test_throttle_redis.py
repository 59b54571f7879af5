"""Login throttling shared through Redis: two service processes count the same failures."""

from __future__ import annotations

from pathlib import Path

from tenantry.domain.audit import Outcome
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
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
