"""The Jinja2 email templates as the invitee receives them over SMTP: escaping, the resend's own
template, an operator's templates (TENANTRY_MAIL_TEMPLATES_DIR), and the outbox dispatcher that
`tenantry serve` runs or leaves to `tenantry outbox run` (TENANTRY_SERVE_DISPATCHES_OUTBOX)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tenantry.bootstrap import Tenantry
from tenantry.cli import app as cli_app
from tenantry.http.app import create_app
from tests.harness import (
    PASSWORD,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    build_tenantry,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.smtp_server import SmtpServer


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    # SMTP carries lines ending in CRLF.
    return (text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n"))


def owner_of(api: Api, org_name: str) -> Account:
    owner = api.verified_account(name="Ada & <Bob>")
    response = api.client.post(
        "/v1/organisations", json={"name": org_name, "slug": unique_slug()}, headers=owner.auth
    )
    assert response.status_code == 201, response.text
    return api.switch_org(owner, response.json()["id"])


def invite(api: Api, owner: Account, email: str) -> dict[str, Any]:
    response = api.client.post(
        f"/v1/organisations/{owner.org_id}/invitations",
        json={"email": email, "org_role": "ADMIN"},
        headers=owner.auth,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_html_escapes_the_org_and_inviter_names_and_the_text_part_keeps_them(api: Api) -> None:
    owner = owner_of(api, "<b>Acme & Co</b>")
    email = unique_email("ivy")

    invite(api, owner, email)
    [mail] = api.mailbox.messages_to(email)
    text, html = parts(mail)
    token = api.mailbox.last_invitation_token(email)

    assert mail["Subject"] == "Ada & <Bob> invited you to join <b>Acme & Co</b>"
    assert "Ada & <Bob> invited you to join <b>Acme & Co</b>, as ADMIN." in text
    assert "<b>Acme" not in html
    assert "<strong>&lt;b&gt;Acme &amp; Co&lt;/b&gt;</strong>" in html
    assert "Ada &amp; &lt;Bob&gt; invited you" in html
    assert "<title>Ada &amp; &lt;Bob&gt; invited you to join &lt;b&gt;Acme" in html
    assert f'href="http://tenantry.test/invitations/{token}"' in html
    assert f"\nhttp://tenantry.test/invitations/{token}\n" in text


def test_a_resend_comes_from_its_own_template_and_says_the_old_link_is_dead(api: Api) -> None:
    owner = owner_of(api, "Acme")
    email = unique_email("ivy")
    made = invite(api, owner, email)
    first = api.mailbox.last_invitation_token(email)

    resent = api.client.post(
        f"/v1/organisations/{owner.org_id}/invitations/{made['id']}/resend", headers=owner.auth
    )
    first_mail, second_mail = api.mailbox.messages_to(email)
    text, html = parts(second_mail)
    second = api.mailbox.last_invitation_token(email)

    assert resent.status_code == 200, resent.text
    assert second != first
    assert first_mail["Subject"] == "Ada & <Bob> invited you to join Acme"
    assert second_mail["Subject"] == "Reminder: Ada & <Bob> invited you to join Acme"
    assert "the one sent before no longer works" in text
    assert "the one sent before no longer works" in html
    assert "no longer works" not in parts(first_mail)[0]
    assert f"/invitations/{second}" in text
    assert f"/invitations/{first}" not in text + html


# --- an operator's templates ------------------------------------------------------------------


@pytest.fixture
def own_templates(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "invitation.txt").write_text(
        "{{ org_name }} wants you on board ({{ role }}): {{ link }}\n", encoding="utf-8"
    )
    return directory


@pytest.fixture
def branded(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    own_templates: Path,
) -> Iterator[Api]:
    settings = test_settings(store_target, tmp_path, mail_templates_dir=own_templates)
    tenantry = build_tenantry(settings, clock, smtp_server)
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()


def test_an_operators_template_replaces_ours_file_by_file(branded: Api) -> None:
    owner = owner_of(branded, "Acme")
    email = unique_email("ivy")

    invite(branded, owner, email)
    [mail] = branded.mailbox.messages_to(email)
    text, html = parts(mail)
    token = branded.mailbox.last_invitation_token(email)

    assert text == f"Acme wants you on board (ADMIN): http://tenantry.test/invitations/{token}\n"
    assert "Accept the invitation" in html  # no invitation.html there: tenantry's own
    assert "replies are not read" in html


@pytest.mark.parametrize(
    ("file_name", "source", "said"),
    [
        ("verify_email.txt", "Hello {{ nobody }}", "the verify_email email does not render"),
        ("invitation.html", "{% block body %}", "the invitation email does not render"),
    ],
)
def test_a_broken_operator_template_stops_the_start_naming_the_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_name: str, source: str, said: str
) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / file_name).write_text(source, encoding="utf-8")
    monkeypatch.setenv("TENANTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'tenantry.db'}")
    # A secret given, not generated: generating one logs through a logger the command's
    # configuration would cache for the rest of the process.
    monkeypatch.setenv("TENANTRY_SECRET_KEY", "test-secret-" + "x" * 40)
    monkeypatch.setenv("TENANTRY_MAIL_TEMPLATES_DIR", str(directory))

    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"])

    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "error invalid_mail_template:" in output
    assert said in output
    assert "Traceback" not in output


def test_a_templates_directory_that_is_not_one_is_a_setting_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_MAIL_TEMPLATES_DIR", str(tmp_path / "missing"))

    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"])

    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "error invalid_setting: TENANTRY_MAIL_TEMPLATES_DIR:" in output
    assert "is not a directory" in output


# --- who runs the dispatcher ------------------------------------------------------------------


def serving(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp: SmtpServer, **settings: Any
) -> Tenantry:
    values = test_settings(store_target, tmp_path, outbox_poll_seconds=0.02, **settings)
    return build_tenantry(values, clock, smtp)


def sign_up(client: TestClient) -> str:
    email = unique_email("new")
    response = client.post(
        "/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "N"}
    )
    assert response.status_code in (200, 201, 202), response.text
    return email


# Which threads the app starts does not depend on the store; on SQLite the outbox is the test's own.
ON_SQLITE = pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)


@ON_SQLITE
def test_serve_runs_the_dispatcher_by_default(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    tenantry = serving(store_target, tmp_path, clock, smtp_server)
    try:
        with TestClient(create_app(tenantry, run_dispatcher=True)) as client:
            email = sign_up(client)
            [mail] = smtp_server.wait_for(1)
    finally:
        tenantry.close()

    assert mail["To"] == email
    assert mail["X-Tenantry-Kind"] == "verify_email"


@ON_SQLITE
def test_serve_leaves_the_outbox_to_its_own_worker_when_told_to(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    tenantry = serving(store_target, tmp_path, clock, smtp_server, serve_dispatches_outbox=False)
    try:
        with TestClient(create_app(tenantry, run_dispatcher=True)) as client:
            email = sign_up(client)
            time.sleep(0.5)  # 25 polls of a dispatcher, had one been started
            with tenantry.store.unit_of_work() as uow:
                waiting = uow.outbox.stats(clock.now())
            delivered = Mailbox(tenantry, smtp_server).messages_to(email)
    finally:
        tenantry.close()

    assert smtp_server.recipients == [[email]]  # sent once, by the Mailbox's dispatch only
    assert waiting.pending >= 1
    assert [m["X-Tenantry-Kind"] for m in delivered] == ["verify_email"]
