"""Email addresses: one normal form (NFKC, then lower case, the domain IDNA-normalised) for
sign-up, login, reset and the CLI, so that a full-width letter is not a second account; and
special-use domains (.test, .local, .internal, localhost), refused in production unless the
operator allows them, and allowed by default elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from typer.testing import CliRunner

from tenantry.bootstrap import bootstrap
from tenantry.cli import app as cli_app
from tenantry.settings import Environment, Settings
from tests.harness import (
    ON_EVERY_STORE_USED,
    PASSWORD,
    Api,
    Mailbox,
    StoreTarget,
    bearer,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.integration.account_checks import (
    assert_problem,
    audit_events_of,
    stored_user_id,
)
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE_USED]

SPECIAL_USE = ["example.test", "corp.local", "corp.internal", "localhost"]


def full_width(email: str) -> str:
    """The address with its first (ASCII, lower-case) letter in its full-width form."""
    return chr(ord(email[0]) - ord("a") + ord("\uff41")) + email[1:]


def test_a_full_width_letter_is_the_same_address_everywhere(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    email = unique_email("alice")

    signed_up = api.signup(full_width(email))
    again = api.signup(email, password="another good password", name="Imposter")

    assert (signed_up.status_code, again.status_code) == (202, 202)
    user_id = stored_user_id(api, email)
    with api.tenantry.store.unit_of_work() as uow:
        assert uow.users.get_by_email(full_width(email)) is None  # stored in the normal form
    token = mailbox.last_link_token(email, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    login = api.login(full_width(email).upper())
    assert login.status_code == 200, login.text
    me = api.client.get("/v1/me", headers=bearer(login.json()["access_token"])).json()
    assert (me["id"], me["email"]) == (user_id, email)
    reset = api.client.post("/v1/auth/password-reset", json={"email": full_width(email)})
    assert reset.status_code == 202
    assert "Reset your password" in [m["Subject"] for m in mailbox.messages_to(email)]
    assert audit_events_of(store_target, again, action="user.signup")[0].reason == "email_taken"


def test_an_address_that_is_not_one_is_refused_by_every_route_with_invalid_email(
    api: Api,
) -> None:
    for path, body in [
        ("/v1/auth/signup", {"email": "not-an-email", "password": PASSWORD, "name": "N"}),
        ("/v1/auth/login", {"email": "not-an-email", "password": PASSWORD}),
        ("/v1/auth/password-reset", {"email": "two@@example.com"}),
        ("/v1/auth/verify-email/resend", {"email": "spaced out@example.com"}),
    ]:
        refused = assert_problem(api.client.post(path, json=body), 422, "invalid_email")
        assert refused["detail"].startswith("not a valid email address"), path


@pytest.fixture
def strict_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """A tenantry whose operator refuses special-use domains (the production default)."""
    settings = test_settings(store_target, tmp_path, allow_special_use_email_domains=False)
    app = build_tenantry(settings, clock, smtp_server)
    yield Api(app, Mailbox(app, smtp_server))
    app.close()


@pytest.mark.parametrize("domain", SPECIAL_USE)
def test_a_special_use_domain_is_refused_when_the_operator_says_so_and_the_error_says_how(
    strict_api: Api, store_target: StoreTarget, domain: str
) -> None:
    email = f"{unique_email('ops').split('@')[0]}@{domain}"

    response = strict_api.signup(email)

    body = assert_problem(response, 422, "invalid_email")
    assert domain in body["detail"]
    assert "TENANTRY_ALLOW_SPECIAL_USE_EMAIL_DOMAINS=true" in body["detail"]
    with strict_api.tenantry.store.unit_of_work() as uow:
        assert uow.users.get_by_email(email) is None
    assert audit_events_of(store_target, response) == []
    assert strict_api.mailbox.messages_to(email) == []


@pytest.mark.parametrize("domain", SPECIAL_USE)
def test_a_special_use_domain_is_allowed_outside_production_by_default(
    api: Api, mailbox: Mailbox, domain: str
) -> None:
    email = f"{unique_email('intranet').split('@')[0]}@{domain.upper()}"

    response = api.signup(email)

    assert response.status_code == 202, response.text
    token = mailbox.last_link_token(email.lower(), "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    assert api.login(email).status_code == 200


def test_production_refuses_special_use_domains_unless_the_operator_allows_them() -> None:
    production: dict[str, Any] = {
        "env": Environment.PRODUCTION,
        "secret_key": "s" * 40,
        "public_url": "https://id.example.com",
        "mailer": "files",
    }

    assert Settings(_env_file=None, **production).allows_special_use_email_domains is False
    allowed = Settings(_env_file=None, allow_special_use_email_domains=True, **production)
    assert allowed.allows_special_use_email_domains is True
    assert Settings(_env_file=None).allows_special_use_email_domains is True


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory and TENANTRY_* environment for `tenantry` commands."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)
    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tenantry.db'}",
        "SECRET_KEY": "cli-test-secret-" + "x" * 40,
        "PUBLIC_URL": "http://tenantry.test",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_TIME_COST": "1",
        "MAILER": "files",
        "MAIL_DIR": str(tmp_path / "mail"),
    }.items():
        monkeypatch.setenv(f"TENANTRY_{name}", value)
    assert CliRunner().invoke(cli_app, ["migrate"]).exit_code == 0
    yield tmp_path
    structlog.reset_defaults()  # every command configures logging for a terminal


def create_user(email: str) -> tuple[int, str]:
    command = ["user", "create", "--email", email, "--name", "Ops", "--password", PASSWORD]
    result = CliRunner().invoke(cli_app, [*command, "--verified"])
    return result.exit_code, " ".join(result.output.split())


def test_the_cli_stores_the_same_normal_form_and_refuses_the_same_domains(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email("alice")

    created = create_user(full_width(email).upper())
    duplicate = create_user(email)
    monkeypatch.setenv("TENANTRY_ALLOW_SPECIAL_USE_EMAIL_DOMAINS", "false")
    refused = create_user("ops@corp.local")

    assert created[0] == 0, created
    assert duplicate[0] == 1
    assert "error email_taken:" in duplicate[1]
    assert refused[0] == 1
    assert "error invalid_email:" in refused[1]
    assert "TENANTRY_ALLOW_SPECIAL_USE_EMAIL_DOMAINS" in refused[1]
    tenantry = bootstrap(Settings())
    try:
        with tenantry.store.unit_of_work() as uow:
            user = uow.users.get_by_email(email)
            assert user is not None
            assert user.email == email
            assert uow.users.get_by_email("ops@corp.local") is None
    finally:
        tenantry.close()
