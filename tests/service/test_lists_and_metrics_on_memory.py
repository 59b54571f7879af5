"""On the in-memory store as on SQL: the caller's lists page by the store's cursors, and the
metrics read the outbox through its port (the memory store has no connection pool)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Api, unique_slug


def test_my_sessions_and_organisations_page_on_memory(memory_api: Api) -> None:
    owner, org = memory_api.owner_with_org(unique_slug("mem"))
    memory_api.login(owner.email)

    sessions = memory_api.client.get("/v1/me/sessions", params={"limit": 1}, headers=owner.auth)
    rest = memory_api.client.get(
        "/v1/me/sessions", params={"cursor": sessions.json()["next_cursor"]}, headers=owner.auth
    )
    orgs = memory_api.client.get("/v1/organisations", params={"limit": 1}, headers=owner.auth)
    garbage = memory_api.client.get(
        "/v1/organisations", params={"cursor": "garbage"}, headers=owner.auth
    )

    assert len(sessions.json()["items"]) == 1
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    assert [item["id"] for item in orgs.json()["items"]] == [org["id"]]
    assert orgs.json()["next_cursor"] is None
    assert (garbage.status_code, garbage.json()["code"]) == (422, "invalid_cursor")


def test_metrics_on_memory_report_the_outbox_and_no_pool(memory_api: Api) -> None:
    assert memory_api.signup().is_success

    text = memory_api.client.get("/metrics").text

    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"tenantry_outbox_pending", "tenantry_outbox_oldest_pending_age_seconds"} <= names
    assert not any(name.startswith("tenantry_db_pool") for name in names)
