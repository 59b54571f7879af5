"""The HTTP edge's own policy: response headers, the docs pages, slash redirects, the client
address behind a proxy, and one shape for every problem (docs/security.md, "Headers")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
import structlog
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import ASGIApp
from typer.testing import CliRunner

from tenantry import cli
from tenantry.bootstrap import Tenantry
from tenantry.http.app import create_app
from tenantry.settings import Environment, Settings
from tenantry.store.sql.tables import sessions
from tests.harness import (
    PASSWORD,
    Api,
    StoreTarget,
    TestClock,
    bearer,
    build_tenantry,
    privileged,
    test_settings,
    unique_email,
)
from tests.in_process import InProcessClient
from tests.integration.account_checks import assert_problem, audit_events_of
from tests.smtp_server import SmtpServer

NOT_CACHED = {"cache-control": "no-store", "pragma": "no-cache"}
EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
JSON = {"content-type": "application/json"}


def policy_of(response: Any) -> dict[str, str | None]:
    names = [*NOT_CACHED, *EVERY_RESPONSE, "content-security-policy", "strict-transport-security"]
    return {name: response.headers.get(name) for name in names}


def api_policy(*, hsts: str | None = None) -> dict[str, str | None]:
    policy: dict[str, str | None] = {**NOT_CACHED, **EVERY_RESPONSE}
    return policy | {"content-security-policy": API_CSP, "strict-transport-security": hsts}


@pytest.fixture
def another_tenantry(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Callable[..., TestClient]]:
    """A client of a second tenantry on the same store, built with other settings."""
    built: list[Tenantry] = []

    def client(**overrides: Any) -> TestClient:
        settings = test_settings(store_target, tmp_path, **overrides)
        built.append(build_tenantry(settings, clock, smtp_server))
        return InProcessClient(create_app(built[-1]), raise_server_exceptions=False)

    yield client
    for tenantry in built:
        tenantry.close()


# --- caching ---------------------------------------------------------------------------------


def test_token_responses_and_authenticated_ones_are_never_cached(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()

    login = api.login(account.email)
    refreshed = api.client.post(
        "/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    me = api.client.get("/v1/me", headers=bearer(refreshed.json()["access_token"]))
    listed = api.client.get("/v1/me/sessions", headers=account.auth)
    refused = api.client.get("/v1/me", headers=bearer("not-a-token"))

    for response, status in ((login, 200), (refreshed, 200), (me, 200), (listed, 200)):
        assert response.status_code == status, response.text
        assert policy_of(response) == api_policy(), response.url
    assert_problem(refused, 401, "invalid_token")
    assert policy_of(refused) == api_policy()
    assert me.json()["id"] == account.user_id
    assert [e.action for e in audit_events_of(store_target, refreshed)] == ["auth.refresh"]


def test_public_responses_and_early_refusals_carry_the_policy_too(api: Api) -> None:
    responses = [
        api.client.get("/healthz"),
        api.client.get("/.well-known/jwks.json"),
        api.client.get("/openapi.json"),
        api.client.get("/v1/nowhere"),
        api.client.get("/v1/me?x=%00"),  # refused by the URL guard, before any route
        api.client.post("/v1/auth/login", content=b"e=x", headers={"content-type": "text/plain"}),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 404, 400, 415]
    for response in responses:
        assert policy_of(response) == api_policy(), response.url
        assert "server" not in response.headers


def test_an_unexpected_error_carries_the_policy_and_its_request_id(api: Api) -> None:
    def broken_route() -> None:
        raise RuntimeError("a bug")

    app = create_app(api.tenantry)
    app.add_api_route("/broken", broken_route)
    response = InProcessClient(app, raise_server_exceptions=False).get("/broken")

    body = assert_problem(response, 500, "internal_error")
    assert policy_of(response) == api_policy()
    assert response.headers["x-request-id"] == body["request_id"]


def test_hsts_is_sent_only_when_the_public_url_is_https(
    api: Api, another_tenantry: Callable[..., TestClient]
) -> None:
    behind_tls = another_tenantry(public_url="https://id.example.com")

    assert policy_of(api.client.get("/healthz")) == api_policy(hsts=None)
    assert policy_of(behind_tls.get("/healthz")) == api_policy(hsts="max-age=31536000")
    assert policy_of(behind_tls.get("/v1/me")) == api_policy(hsts="max-age=31536000")


# --- the docs pages --------------------------------------------------------------------------


def test_the_docs_pages_load_everything_from_this_origin_under_a_strict_policy(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        response = api.client.get(page)

        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["x-frame-options"] == "DENY"
        csp = directives(response.headers["content-security-policy"])
        assert csp["default-src"] == csp["frame-ancestors"] == "'none'"
        assert csp["script-src"] == csp["connect-src"] == "'self'"
        assert "<script>" not in response.text  # no inline script: 'self' is enough
        loaded = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert any(url.endswith(".js") for url in loaded), loaded
        for url in loaded:
            assert url.startswith("/"), url  # this origin, no CDN
            asset = api.client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["x-content-type-options"] == "nosniff"
    bundle = api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert bundle.headers["cache-control"] == "no-cache"  # revalidated, since names stay


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_docs_are_off_in_production_and_where_turned_off(
    another_tenantry: Callable[..., TestClient], tmp_path: Path
) -> None:
    production = another_tenantry(
        env=Environment.PRODUCTION,
        public_url="https://id.example.com",
        argon2_memory_kib=19_456,
        argon2_time_cost=2,
        mailer="files",
        mail_dir=tmp_path / "mail",
    )
    turned_off = another_tenantry(docs_enabled=False)

    for client in (production, turned_off):
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            assert_problem(client.get(path), 404, "route_not_found")
        assert client.get("/healthz").status_code == 200


# --- slash redirects -------------------------------------------------------------------------


def test_a_trailing_slash_is_a_plain_404_not_a_redirect_to_the_callers_host(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    hostile = {"host": "evil.example"}

    me = api.client.get("/v1/me/", headers=account.auth | hostile, follow_redirects=False)
    login = api.client.post(
        "/v1/auth/login/",
        json={"email": account.email, "password": PASSWORD},
        headers=hostile,
        follow_redirects=False,
    )

    for response in (me, login):
        assert_problem(response, 404, "route_not_found")
        assert "location" not in response.headers
    assert stored_session_addresses(store_target, account.user_id) == ["testclient"]
    assert audit_events_of(store_target, login) == []


# --- one shape for every problem -------------------------------------------------------------


def test_the_body_guards_refusals_have_the_shape_of_every_other_problem(api: Api) -> None:
    limit = api.tenantry.settings.max_body_bytes
    oversized = json.dumps({"email": unique_email(), "password": "p" * limit}).encode()

    invalid = api.client.post("/v1/auth/login", json={"email": unique_email()})
    too_large = api.client.post("/v1/auth/login", content=oversized, headers=JSON)
    streamed = api.client.post("/v1/auth/login", content=iter([oversized]), headers=JSON)
    not_json = api.client.post(
        "/v1/auth/login", content=b"e=x", headers={"content-type": "text/plain"}
    )

    reference = assert_problem(invalid, 422, "validation_failed")
    del reference["errors"]  # only a validation problem names fields
    for response, status, code, title in (
        (too_large, 413, "payload_too_large", "Payload too large"),
        (streamed, 413, "payload_too_large", "Payload too large"),
        (not_json, 415, "unsupported_media_type", "Unsupported media type"),
    ):
        body = assert_problem(response, status, code)
        assert list(body) == list(reference)
        assert body["type"] == reference["type"] == "about:blank"
        assert body["title"] == title
        assert body["request_id"] == response.headers["x-request-id"]
        assert response.content == compact(body)
        assert response.headers["content-length"] == str(len(response.content))
    assert invalid.content == compact(invalid.json())
    assert too_large.json()["detail"] == streamed.json()["detail"]


def compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# --- the client address behind a proxy -------------------------------------------------------


@dataclass
class Served:
    config: uvicorn.Config
    client: TestClient


@pytest.fixture
def served(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Served]]:
    """`tenantry serve` run as an operator runs it, up to where uvicorn would listen; the app
    and options it hands to uvicorn are loaded as uvicorn loads them, for a client that
    connects from 127.0.0.1 (another process on the host)."""
    opened: list[Tenantry] = []

    def serve(**environment: str) -> Served:
        _environment_of(api.tenantry.settings, tmp_path, monkeypatch, environment)
        handed: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(options, app=app))
        result = CliRunner().invoke(cli.app, ["serve"])
        assert result.exit_code == 0, (result.output, result.exception)
        opened.append(handed["app"].state.tenantry)
        config = uvicorn.Config(**handed)
        config.load()
        client = InProcessClient(cast(ASGIApp, config.loaded_app), client=("127.0.0.1", 50000))
        return Served(config, client)

    yield serve
    for tenantry in opened:
        tenantry.close()
    structlog.reset_defaults()  # the command configured logging for a terminal


def _environment_of(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)
    assert settings.secret_key is not None
    values = {
        "database_url": settings.database_url,
        "migration_database_url": settings.migration_database_url or settings.database_url,
        "secret_key": settings.secret_key.get_secret_value(),
        "secret_key_file": str(settings.secret_key_file),
        "public_url": settings.resolved_public_url(),
        "argon2_memory_kib": str(settings.argon2_memory_kib),
        "argon2_time_cost": str(settings.argon2_time_cost),
        "mailer": "files",
        "mail_dir": str(tmp_path / "mail"),
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"TENANTRY_{name.upper()}", value)


def login_from(client: TestClient, email: str, *, forwarded_for: str) -> str | None:
    """Logs in claiming another address; returns the address the new session recorded."""
    login = client.post(
        "/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"x-forwarded-for": forwarded_for},
    )
    assert login.status_code == 200, login.text
    listed = client.get("/v1/me/sessions", headers=bearer(login.json()["access_token"]))
    assert listed.status_code == 200, listed.text
    current = [s for s in listed.json()["items"] if s["current"]]
    assert len(current) == 1, current
    address: str | None = current[0]["ip_address"]
    return address


def test_x_forwarded_for_is_not_believed_unless_a_proxy_is_named(
    api: Api, store_target: StoreTarget, served: Callable[..., Served]
) -> None:
    account = api.verified_account()
    server = served()

    recorded = login_from(server.client, account.email, forwarded_for="203.0.113.7")

    assert recorded == "127.0.0.1"  # the TCP peer, as the throttle sees it
    assert server.config.server_header is False  # and no `server: uvicorn`
    assert set(stored_session_addresses(store_target, account.user_id)) == {
        "127.0.0.1",
        "testclient",
    }


def test_x_forwarded_for_from_a_named_proxy_names_the_client(
    api: Api, store_target: StoreTarget, served: Callable[..., Served]
) -> None:
    account = api.verified_account()
    behind_proxy = served(forwarded_allow_ips="127.0.0.1")

    recorded = login_from(behind_proxy.client, account.email, forwarded_for="203.0.113.7")

    assert recorded == "203.0.113.7"
    assert set(stored_session_addresses(store_target, account.user_id)) == {
        "203.0.113.7",
        "testclient",
    }


def stored_session_addresses(target: StoreTarget, user_id: str) -> list[str | None]:
    with privileged(target) as db:
        query = sa.select(sessions.c.ip_address).where(sessions.c.user_id == user_id)
        return list(db.scalars(query))
