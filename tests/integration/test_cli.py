"""The `tenantry` command line as an operator uses it: environment variables in, text out.

Each command builds its own tenantry from the environment, as a fresh process would. The test
then looks at what the command left behind through another tenantry built from the same
environment (another process): the store, the audit trail, the mail folder, the HTTP API.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
import structlog
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tenantry.audit.ports import AuditQuery
from tenantry.bootstrap import Tenantry, bootstrap
from tenantry.cli import app
from tenantry.domain.audit import ActorType
from tenantry.domain.model import KeyState, MembershipStatus, OrgStatus
from tenantry.domain.roles import OrgRole
from tenantry.flows.dispatch import dispatch_due
from tenantry.http.app import create_app
from tenantry.settings import Settings
from tests.harness import PASSWORD, bearer, connected, unique_email, unique_slug
from tests.in_process import InProcessClient
from tests.postgres_server import PgUrls, tenantry_database

PUBLIC_URL = "http://tenantry.test"


@dataclass
class Cli:
    """Runs `tenantry ...` with the environment the fixture set up."""

    database_url: str
    mail_dir: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.output, result.exception)
        return " ".join(result.output.split())  # whatever the console wrapped, one line

    def create_user(self, email: str, *, verified: bool = True) -> str:
        command = ["user", "create", "--email", email, "--name", "Ops Person", "--password"]
        output = self.ok(*command, PASSWORD, *(["--verified"] if verified else []))
        return _found(r"created user (usr_\w+)", output)

    @contextmanager
    def another_process(self) -> Iterator[Tenantry]:
        """A tenantry built from the same environment, as a second process would build it."""
        tenantry = bootstrap(Settings())
        try:
            yield tenantry
        finally:
            tenantry.close()


def _found(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in {output!r}"
    return match.group(1)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    # Every command configures structlog for a terminal; later tests expect the defaults.
    yield
    structlog.reset_defaults()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory (no stray `.env`) and no TENANTRY_* setting from outside."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)
    monkeypatch.setenv("TENANTRY_SECRET_KEY", "cli-test-secret-" + "x" * 40)
    monkeypatch.setenv("TENANTRY_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("TENANTRY_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("TENANTRY_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("TENANTRY_MAILER", "files")
    monkeypatch.setenv("TENANTRY_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def cli(environment: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    url = f"sqlite:///{environment / 'tenantry.db'}"
    monkeypatch.setenv("TENANTRY_DATABASE_URL", url)
    cli = Cli(url, environment / "mail")
    assert cli.ok("migrate") == "schema is up to date"
    return cli


def org_count(database_url: str) -> int:
    with connected(database_url) as connection:
        return int(connection.scalar(sa.text("SELECT count(*) FROM organisations")) or 0)


# --- settings --------------------------------------------------------------------------------


def test_unsafe_production_settings_stop_every_command_with_a_message_not_a_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_ENV", "production")
    monkeypatch.setenv("TENANTRY_PUBLIC_URL", "https://id.example.com")
    monkeypatch.setenv("TENANTRY_MAILER", "console")
    for cheap_hashing in ("TENANTRY_ARGON2_MEMORY_KIB", "TENANTRY_ARGON2_TIME_COST"):
        monkeypatch.delenv(cheap_hashing)

    for command in (["migrate"], ["keys", "rotate"], ["serve", "--port", "1"]):
        result = cli(*command)
        output = " ".join(result.output.split())
        assert result.exit_code == 2, output
        assert "error invalid_setting:" in output
        assert "TENANTRY_MAILER=console prints live sign-in links" in output
        assert "Traceback" not in output


def test_a_malformed_setting_names_the_variable(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_ACCESS_TOKEN_TTL_SECONDS", "ten minutes")

    result = cli("migrate")

    assert result.exit_code == 2
    assert "TENANTRY_ACCESS_TOKEN_TTL_SECONDS" in result.output


def test_an_unreachable_database_is_reported_not_thrown(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    monkeypatch.setenv("TENANTRY_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/tenantry")

    for command in (["migrate"], ["keys", "rotate"]):
        result = cli(*command)
        output = " ".join(result.output.split())
        assert result.exit_code == 1, output
        assert "error store_unavailable:" in output
        assert "Traceback" not in output


# --- users and organisations ---------------------------------------------------------------


def test_an_operator_creates_a_verified_user_audited_as_system(cli: Cli) -> None:
    email = unique_email("ops")

    user_id = cli.create_user(email.upper())

    with cli.another_process() as tenantry, tenantry.store.unit_of_work() as uow:
        user = uow.users.get(user_id)
        events = uow.audit.find(AuditQuery(org_id=None, action="user.create"))
    assert user is not None
    assert (user.email, user.is_verified) == (email, True)
    assert [(e.actor_type, e.resource_id) for e in events] == [(ActorType.SYSTEM, user_id)]


def test_a_user_whose_name_is_only_white_space_is_refused_with_invalid_name(cli: Cli) -> None:
    email = unique_email("blank")

    result = cli("user", "create", "--email", email, "--name", "   ", "--password", PASSWORD)

    assert result.exit_code == 1
    assert "error invalid_name:" in result.output
    assert "Traceback" not in result.output
    with cli.another_process() as tenantry, tenantry.store.unit_of_work() as uow:
        assert uow.users.get_by_email(email) is None
        assert uow.audit.find(AuditQuery(org_id=None, action="user.create")) == []


def test_an_operator_registers_an_organisation_that_ends_up_active_with_its_owner(
    cli: Cli,
) -> None:
    email, slug = unique_email("owner"), unique_slug("cli")
    owner_id = cli.create_user(email)

    output = cli.ok("org", "create", "--name", "Acme Ltd", "--slug", slug, "--owner-email", email)

    org_id = _found(rf"organisation (org_\w+) \({slug}\) is ACTIVE", output)
    with (
        cli.another_process() as tenantry,
        tenantry.store.unit_of_work(org_id=org_id) as uow,
    ):
        org = uow.organisations.get(org_id)
        membership = uow.memberships.get(org_id, owner_id)
        created = uow.audit.find(AuditQuery(org_id=org_id, action="organisation.create"))
    assert org is not None
    assert (org.slug, org.name, org.status) == (slug, "Acme Ltd", OrgStatus.ACTIVE)
    assert membership is not None
    assert (membership.org_role, membership.status) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert [(e.actor_type, e.actor_id, e.details) for e in created] == [
        (ActorType.SYSTEM, "system", {"slug": slug})
    ]


@pytest.mark.parametrize(
    ("slug", "owner", "code"),
    [
        ("Not A Slug", "the-owner", "invalid_slug"),
        ("ab", "the-owner", "invalid_slug"),
        ("admin", "the-owner", "reserved_slug"),
        ("fine-slug", "nobody", "user_not_found"),
    ],
)
def test_a_refused_organisation_exits_1_with_the_code_and_no_traceback(
    cli: Cli, slug: str, owner: str, code: str
) -> None:
    owner_email = unique_email("owner")
    cli.create_user(owner_email)
    email = owner_email if owner == "the-owner" else unique_email("nobody")

    result = cli("org", "create", "--name", "Acme", "--slug", slug, "--owner-email", email)

    assert result.exit_code == 1
    assert f"error {code}:" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert org_count(cli.database_url) == 0


def test_a_taken_slug_is_refused_with_slug_taken(cli: Cli) -> None:
    email, slug = unique_email("owner"), unique_slug("taken")
    cli.create_user(email)
    cli.ok("org", "create", "--name", "First", "--slug", slug, "--owner-email", email)

    result = cli("org", "create", "--name", "Second", "--slug", slug, "--owner-email", email)

    assert (result.exit_code, "error slug_taken:" in result.output) == (1, True)
    assert org_count(cli.database_url) == 1


# --- email ---------------------------------------------------------------------------------


def test_an_unverified_user_gets_a_verification_email_once_the_outbox_is_dispatched(
    cli: Cli,
) -> None:
    email = unique_email("unverified")

    cli.create_user(email, verified=False)

    assert list(cli.mail_dir.glob("*.eml")) == []  # queued in the outbox, not sent inline
    with cli.another_process() as tenantry:
        report = dispatch_due(
            tenantry.store.unit_of_work,
            tenantry.mailer,
            clock=tenantry.clock,
            max_attempts=tenantry.settings.outbox_max_attempts,
        )
    assert report.sent == 1
    [sent] = [_read_eml(path) for path in cli.mail_dir.glob("*.eml")]
    body = sent.get_body(preferencelist=("plain",))
    assert body is not None
    assert sent["To"] == email
    assert f"{PUBLIC_URL}/verify-email?token=" in body.get_content()


def _read_eml(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- signing keys --------------------------------------------------------------------------


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _login(client: TestClient, email: str) -> str:
    response = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _published_kids(client: TestClient) -> set[str]:
    return {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}


def test_keys_rotate_promotes_the_published_next_key_and_old_tokens_still_verify(
    cli: Cli,
) -> None:
    email = unique_email("keys")
    cli.create_user(email)
    with cli.another_process() as before:
        client = InProcessClient(create_app(before))
        token_before = _login(client, email)
        published_before = _published_kids(client)

    output = cli.ok("keys", "rotate")

    new_kid = _found(r"current signing key is now (\S+) \(ES256\)", output)
    assert new_kid != _kid(token_before)
    assert new_kid in published_before  # relying parties had it before it signed anything
    with cli.another_process() as after:
        with after.store.unit_of_work() as uow:
            states = {key.kid: key.state for key in uow.signing_keys.list()}
        client = InProcessClient(create_app(after))
        still_valid = client.get("/v1/me", headers=bearer(token_before))
        token_after = _login(client, email)
        published_after = _published_kids(client)
    assert states[new_kid] == KeyState.CURRENT
    assert states[_kid(token_before)] == KeyState.RETIRED
    assert still_valid.status_code == 200, still_valid.text
    assert still_valid.json()["email"] == email
    assert _kid(token_after) == new_kid
    assert {_kid(token_before), new_kid} <= published_after


# --- PostgreSQL: migrations as the owner, the service as the runtime role -------------------


@pytest.fixture
def fresh_postgres(postgres_admin_url: str) -> Iterator[PgUrls]:
    """A database nothing has migrated yet: the runtime role may not even read a table."""
    with tenantry_database(postgres_admin_url) as urls:
        yield urls


def _granted(admin_url: str, urls: PgUrls, table: str) -> set[str]:
    """The table privileges the runtime role holds, as PostgreSQL itself reports them."""
    with connected(admin_url) as connection:
        return {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            if connection.scalar(
                sa.text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": urls.runtime_role, "table": table, "privilege": privilege},
            )
        }


@pytest.mark.postgres
def test_migrate_as_the_owner_grants_the_runtime_role_what_the_service_needs(
    environment: Path, fresh_postgres: PgUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_DATABASE_URL", fresh_postgres.runtime_url)
    monkeypatch.setenv("TENANTRY_MIGRATION_DATABASE_URL", fresh_postgres.owner_url)
    cli = Cli(fresh_postgres.runtime_url, environment / "mail")
    email, slug = unique_email("pg"), unique_slug("pg")

    before = cli("user", "create", "--email", email, "--name", "Pg", "--password", PASSWORD)
    assert before.exit_code == 1
    assert "error unsafe_database:" in before.output
    assert "run `tenantry migrate`" in before.output
    assert "Traceback" not in before.output

    assert cli.ok("migrate") == "schema is up to date"

    cli.create_user(email)
    output = cli.ok("org", "create", "--name", "Pg Ltd", "--slug", slug, "--owner-email", email)
    assert re.search(rf"organisation org_\w+ \({slug}\) is ACTIVE", output)
    admin_url = sa.make_url(fresh_postgres.admin_url).set(database=fresh_postgres.database)
    privileged = admin_url.render_as_string(hide_password=False)
    assert _granted(privileged, fresh_postgres, "users") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert _granted(privileged, fresh_postgres, "audit_events") == {
        "SELECT",
        "INSERT",
        "DELETE",
    }  # DELETE: pruning, archived only


# --- serve: the URL it announces ------------------------------------------------------------


@dataclass
class Served:
    output: str
    client: TestClient


@pytest.fixture
def serve(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tenantry serve ARGS` up to where uvicorn would listen, and a client of the app it
    would have served (as tests/integration/test_http_headers.py does)."""
    opened: list[Tenantry] = []

    def served(*args: str) -> Served:
        handed: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(options, app=app))
        output = cli.ok("serve", *args)
        opened.append(handed["app"].state.tenantry)
        return Served(output, InProcessClient(handed["app"]))

    yield served
    for tenantry in opened:
        tenantry.close()


def _discovery(client: TestClient) -> tuple[str, str]:
    document = client.get("/.well-known/openid-configuration").json()
    return document["issuer"], document["jwks_uri"]


def test_serve_without_a_public_url_announces_the_port_it_listens_on(
    cli: Cli, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANTRY_PUBLIC_URL")
    email = unique_email("port")
    cli.create_user(email)

    server = serve("--port", "8123")

    assert "http://127.0.0.1:8123/docs" in server.output
    assert _discovery(server.client) == (
        "http://127.0.0.1:8123",
        "http://127.0.0.1:8123/.well-known/jwks.json",
    )
    token = _login(server.client, email)
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "http://127.0.0.1:8123"


def test_serve_on_every_interface_without_a_public_url_says_to_set_one(
    cli: Cli, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENANTRY_PUBLIC_URL")

    server = serve("--host", "0.0.0.0", "--port", "8124")  # noqa: S104 - nothing listens

    assert "public_url.not_set" in server.output
    assert "set TENANTRY_PUBLIC_URL" in server.output
    assert _discovery(server.client)[0] == "http://127.0.0.1:8124"


@pytest.mark.parametrize(
    ("public_url", "reported"),
    [
        ("http://127.0.0.1:8000", True),  # this machine, the port of another run
        ("http://localhost:8000/", True),
        ("http://127.0.0.1:8123", False),  # the listener itself
        ("https://id.example.com", False),  # a reverse proxy in front
    ],
)
def test_serve_keeps_a_public_url_and_reports_one_naming_this_machine_on_another_port(
    serve: Any, monkeypatch: pytest.MonkeyPatch, public_url: str, reported: bool
) -> None:
    monkeypatch.setenv("TENANTRY_PUBLIC_URL", public_url)

    server = serve("--port", "8123")

    assert ("public_url.not_this_listener" in server.output) is reported
    kept = public_url.rstrip("/")
    assert _discovery(server.client) == (kept, f"{kept}/.well-known/jwks.json")


# --- logs ----------------------------------------------------------------------------------


def test_logs_written_to_a_file_or_a_pipe_carry_no_colour_codes(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_PUBLIC_URL", "http://127.0.0.1:8000")
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)

    server = serve("--port", "8123")  # CliRunner's output is no terminal

    assert "[warning ] public_url.not_this_listener" in server.output
    assert "\x1b[" not in server.output


# --- user create: the email, the password, the flags ----------------------------------------


def test_an_email_http_refuses_is_refused_by_the_cli_with_the_same_code(cli: Cli) -> None:
    result = cli("user", "create", "--email", "not-an-email", "--name", "N", "--password", PASSWORD)

    assert result.exit_code == 1, result.output
    assert "error invalid_email:" in result.output
    with cli.another_process() as tenantry:
        refused = InProcessClient(create_app(tenantry)).post(
            "/v1/auth/signup", json={"email": "not-an-email", "password": PASSWORD, "name": "N"}
        )
        with tenantry.store.unit_of_work() as uow:
            created = uow.audit.find(AuditQuery(org_id=None, action="user.create"))
            signed_up = uow.audit.find(AuditQuery(org_id=None, action="user.signup"))
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_email")
    assert (created, signed_up) == ([], [])
    with connected(cli.database_url) as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM users")) == 0


def test_a_script_pipes_the_password_in_on_standard_input(cli: Cli) -> None:
    email = unique_email("stdin")
    command = ["user", "create", "--email", email, "--name", "Piped", "--verified"]

    output = cli.ok(*command, "--password-stdin", input=PASSWORD + "\n")

    user_id = _found(r"created user (usr_\w+)", output)
    with cli.another_process() as tenantry:
        assert _login(InProcessClient(create_app(tenantry)), email)
        with tenantry.store.unit_of_work() as uow:
            events = uow.audit.find(AuditQuery(org_id=None, action="user.create"))
    assert [(e.actor_type, e.resource_id) for e in events] == [(ActorType.SYSTEM, user_id)]


@pytest.mark.parametrize(
    ("extra", "stdin", "message"),
    [
        ([], "", "no terminal to prompt for it: pipe it in with --password-stdin"),
        (["--password-stdin"], "", "standard input held no password"),
        (["--password", PASSWORD, "--password-stdin"], PASSWORD, "not both"),
    ],
    ids=["no-terminal", "empty-stdin", "both"],
)
def test_without_a_password_or_a_terminal_user_create_says_how_to_give_one(
    cli: Cli, extra: list[str], stdin: str, message: str
) -> None:
    email = unique_email("nopass")

    result = cli("user", "create", "--email", email, "--name", "N", *extra, input=stdin)

    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert message in output
    assert "GetPassWarning" not in output
    assert "Traceback" not in output
    with connected(cli.database_url) as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM users")) == 0


def test_in_a_terminal_the_password_is_prompted_for_twice_and_not_echoed(cli: Cli) -> None:
    email = unique_email("tty")

    status, output = _in_a_terminal(
        ["user", "create", "--email", email, "--name", "Typed", "--verified"],
        answers={"Password: ": PASSWORD, "Repeat for confirmation: ": PASSWORD},
    )

    assert status == 0, output
    assert "\x1b[" in output  # a terminal gets colours, in the log lines too
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert "[info     ] keys.generated" in plain
    assert "created user usr_" in plain
    assert PASSWORD not in plain
    with cli.another_process() as tenantry:
        assert _login(InProcessClient(create_app(tenantry)), email)


def _in_a_terminal(args: list[str], *, answers: dict[str, str]) -> tuple[int, str]:
    """Runs `tenantry ARGS` in a process of its own on a pseudo-terminal (in a session of its
    own, so that no /dev/tty of the test run is borrowed), typing each answer after its prompt."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "tenantry.cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = ""
    try:
        for prompt, answer in answers.items():
            while not seen.endswith(prompt):
                seen += _read(controller)
            os.write(controller, f"{answer}\n".encode())
        while chunk := _read(controller):
            seen += chunk
        return process.wait(timeout=60), seen
    finally:
        process.kill()
        process.wait()
        os.close(controller)


def _read(controller: int) -> str:
    """What the terminal shows next; "" once the process has closed it."""
    ready, _, _ = select.select([controller], [], [], 60)
    assert ready, "the command printed nothing for 60 s"
    try:
        return os.read(controller, 4096).decode()
    except OSError:  # EIO: the other end is closed
        return ""


def test_help_names_flags_without_a_type_label(cli: Cli) -> None:
    for command in ([], ["user", "create"], ["serve"]):
        output = cli.ok(*command, "--help")

        assert "<bool>" not in output, output
    assert "--verified Mark the email as verified." in cli.ok("user", "create", "--help")
