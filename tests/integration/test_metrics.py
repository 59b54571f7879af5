"""`GET /metrics`: Prometheus text with requests by route template and status, sign-in
outcomes, throttle refusals, the outbox's backlog and the database pool; off when disabled,
and behind a bearer token when one is set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tenantry.settings import Environment
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    bearer,
    build_tenantry,
    copy_sqlite,
    test_settings,
)
from tests.integration.account_checks import assert_problem
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = pytest.mark.smtp

TOKEN = "scrape-" + "s" * 32
Labels = dict[str, str]


def scrape(api: Api, **headers: str) -> dict[str, list[tuple[Labels, float]]]:
    """Every sample of the exposition, by sample name (`…_total`, `…_count`, …)."""
    response = api.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, list[tuple[Labels, float]]], name: str, **labels: str) -> float:
    """The one sample of `name` with exactly `labels`, 0 when there is none (not counted yet)."""
    found = [v for have, v in samples.get(name, []) if have == labels]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


@pytest.fixture
def app_with(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Any]:
    """An API built with the given settings; each is closed at the end of the test."""
    built: list[Api] = []

    def build(**overrides: Any) -> Api:
        settings = test_settings(store_target, tmp_path, **overrides)
        tenantry = build_tenantry(settings, clock, smtp_server)
        built.append(Api(tenantry, Mailbox(tenantry, smtp_server)))
        return built[-1]

    yield build
    for api in built:
        api.tenantry.close()


def test_requests_are_counted_and_timed_by_route_template_and_status(api: Api) -> None:
    owner, org = api.owner_with_org()
    for _ in range(2):
        assert (
            api.client.get(f"/v1/organisations/{org['id']}", headers=owner.auth).status_code == 200
        )
    missing = api.client.get(f"/v1/organisations/{org['id']}x", headers=owner.auth)
    assert missing.status_code == 404
    assert api.client.get(f"/no/such/{org['id']}").status_code == 404

    samples = scrape(api)
    text = api.client.get("/metrics").text

    one_org = {"method": "GET", "route": "/v1/organisations/{org_id}"}
    assert value(samples, "tenantry_http_requests_total", **one_org, status="200") == 2
    assert value(samples, "tenantry_http_requests_total", **one_org, status="404") == 1
    assert (
        value(samples, "tenantry_http_request_duration_seconds_count", **one_org, status="200") == 2
    )
    assert value(samples, "tenantry_http_request_duration_seconds_sum", **one_org, status="200") > 0
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "tenantry_http_requests_total", **unmatched) == 1
    register = {"method": "POST", "route": "/v1/organisations", "status": "201"}
    assert value(samples, "tenantry_http_requests_total", **register) == 1
    assert org["id"] not in text  # no id becomes a label: one series per route template


def test_a_method_no_route_knows_adds_no_series(api: Api) -> None:
    api.client.request("BREW", "/v1/me")

    samples = scrape(api)

    methods = {labels["method"] for labels, _ in samples["tenantry_http_requests_total"]}
    assert "BREW" not in methods
    assert "OTHER" in methods


def test_sign_in_outcomes_and_throttle_refusals_are_counted(api: Api) -> None:
    account = api.verified_account()  # one successful sign-in
    statuses = []
    for _ in range(100):  # until the throttle answers, whatever its figures
        statuses.append(api.login(account.email, "a wrong password").status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses

    samples = scrape(api)

    logins = "tenantry_logins_total"
    assert value(samples, logins, outcome="success") == 1
    assert value(samples, logins, outcome="failure") == statuses.count(401)
    assert value(samples, logins, outcome="throttled") == statuses.count(429) == 1
    refusals = "tenantry_throttle_refusals_total"
    assert value(samples, refusals, route="/v1/auth/login") == 1


def test_the_outbox_backlog_is_read_through_its_port(api: Api, clock: TestClock) -> None:
    before = scrape(api)
    assert api.signup().is_success  # a verification email waits in the outbox
    clock.advance(seconds=90)

    after = scrape(api)

    for name in ("tenantry_outbox_pending", "tenantry_outbox_due"):
        assert value(after, name) - value(before, name) == 1
    # The oldest pending email is at least as old as this one (the PostgreSQL outbox is shared
    # by the tests of a worker: another may be older).
    assert value(after, "tenantry_outbox_oldest_pending_age_seconds") >= 90
    api.mailbox.deliver()  # leave no pending email to the later tests of the shared database
    assert value(scrape(api), "tenantry_outbox_pending") <= value(before, "tenantry_outbox_pending")


def test_the_oldest_pending_email_ages_with_the_clock(
    sqlite_template: Path, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    # On a fresh SQLite copy, the only pending emails are this test's.
    url = copy_sqlite(sqlite_template, tmp_path / "metrics.db")
    settings = test_settings(StoreTarget("sqlite", url, url), tmp_path)
    with closing(build_tenantry(settings, clock, smtp_server)) as tenantry:
        _ages_with_the_clock(Api(tenantry, Mailbox(tenantry, smtp_server)), clock)


def _ages_with_the_clock(api: Api, clock: TestClock) -> None:
    assert value(scrape(api), "tenantry_outbox_oldest_pending_age_seconds") == 0
    assert api.signup().is_success
    clock.advance(seconds=90)
    assert api.signup().is_success

    samples = scrape(api)

    assert value(samples, "tenantry_outbox_pending") == 2
    assert value(samples, "tenantry_outbox_oldest_pending_age_seconds") == 90
    api.mailbox.deliver()
    assert value(scrape(api), "tenantry_outbox_pending") == 0


def test_the_database_pool_is_reported(api: Api) -> None:
    samples = scrape(api)

    assert value(samples, "tenantry_db_pool_size") > 0
    for name in ("checked_out", "checked_in", "overflow"):
        assert f"tenantry_db_pool_{name}" in samples


PRODUCTION: dict[str, Any] = {
    "env": Environment.PRODUCTION,
    "public_url": "https://tenantry.test",
    "mailer": "files",
    "argon2_memory_kib": 19_456,
    "argon2_time_cost": 2,
}


def test_production_serves_no_metrics_unless_they_are_turned_on(app_with: Any) -> None:
    assert_problem(app_with(**PRODUCTION).client.get("/metrics"), 404, "route_not_found")
    turned_on = app_with(**PRODUCTION, metrics_enabled=True)
    assert "tenantry_outbox_pending" in scrape(turned_on)


def test_metrics_can_be_turned_off(app_with: Any) -> None:
    api = app_with(metrics_enabled=False)

    assert_problem(api.client.get("/metrics"), 404, "route_not_found")


def test_a_metrics_token_is_required_when_one_is_set(app_with: Any) -> None:
    api = app_with(metrics_token=TOKEN)

    assert_problem(api.client.get("/metrics"), 401, "missing_token")
    assert_problem(api.client.get("/metrics", headers=bearer("x" + TOKEN)), 401, "invalid_token")
    assert "tenantry_http_requests_total" in scrape(api, **bearer(TOKEN))


def test_metrics_are_not_in_the_openapi_document(api: Api) -> None:
    assert "/metrics" not in api.client.get("/openapi.json").json()["paths"]
