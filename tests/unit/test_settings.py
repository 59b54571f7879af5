"""Production refuses settings that would leak secrets or links; other environments allow them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tenantry.settings import DynamoTarget, Environment, Settings, dynamo_target

SAFE_PRODUCTION: dict[str, Any] = {
    "env": Environment.PRODUCTION,
    "secret_key": "s" * 32,
    "public_url": "https://id.example.com",
    "mailer": "smtp",
    "smtp_host": "smtp.example.com",
    "smtp_port": 587,
    "smtp_username": "tenantry",
    "smtp_password": "an smtp password",
    "smtp_tls": "starttls",
}


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes counts: no TENANTRY_* variable from the shell or CI."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**SAFE_PRODUCTION, **overrides})


def test_production_accepts_smtp_with_starttls_a_long_secret_and_https() -> None:
    accepted = settings()

    assert (accepted.env, accepted.mailer, accepted.smtp_tls) == (
        Environment.PRODUCTION,
        "smtp",
        "starttls",
    )
    assert accepted.token_issuer == "https://id.example.com"


@pytest.mark.parametrize(
    "overrides",
    [
        {"smtp_tls": "ssl", "smtp_port": 465},
        {"smtp_username": None, "smtp_password": None, "smtp_tls": "none"},  # a local relay
        {"mailer": "files"},
    ],
    ids=["smtp-ssl", "smtp-no-credentials-no-tls", "files"],
)
def test_production_accepts_mail_that_sends_no_secret_in_the_clear(
    overrides: dict[str, Any],
) -> None:
    assert settings(**overrides).env is Environment.PRODUCTION


REFUSED: dict[str, tuple[dict[str, object], str]] = {
    "console-mailer": ({"mailer": "console"}, "TENANTRY_MAILER=console prints live sign-in links"),
    "smtp-credentials-without-tls": (
        {"smtp_tls": "none"},
        "SMTP credentials without TLS are refused in production",
    ),
    "short-secret": (
        {"secret_key": "s" * 31},
        "TENANTRY_SECRET_KEY of at least 32 characters is required in production",
    ),
    "no-secret": (
        {"secret_key": None},
        "TENANTRY_SECRET_KEY of at least 32 characters is required in production",
    ),
    "http-public-url": (
        {"public_url": "http://id.example.com"},
        "TENANTRY_PUBLIC_URL must be https in production",
    ),
}


@pytest.mark.parametrize(("overrides", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_production_refuses_unsafe_settings_with_a_message_naming_the_problem(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**overrides)

    assert message in str(refused.value)


@pytest.mark.parametrize("env", [Environment.DEVELOPMENT, Environment.TEST])
def test_outside_production_the_console_mailer_and_plain_smtp_are_allowed(
    env: Environment,
) -> None:
    for overrides in REFUSED["console-mailer"][0], REFUSED["smtp-credentials-without-tls"][0]:
        assert settings(env=env, **overrides).env is env


# --- .env.example -----------------------------------------------------------------------------

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def example_lines() -> list[tuple[str, str]]:
    """The `# TENANTRY_NAME=value` lines of .env.example, in order."""
    return re.findall(r"^# (TENANTRY_[A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)


def test_env_example_lists_every_setting_once() -> None:
    listed = [name for name, _ in example_lines()]

    assert sorted(listed) == sorted(f"TENANTRY_{name.upper()}" for name in Settings.model_fields)


def test_env_example_shows_each_default_as_tenantry_reads_it(tmp_path: Path) -> None:
    lines = example_lines()
    uncommented = tmp_path / ".env"
    uncommented.write_text("".join(f"{name}={value}\n" for name, value in lines if value))

    from_example = Settings(_env_file=uncommented)

    assert from_example.model_dump() == Settings(_env_file=None).model_dump()
    left_empty = {name.removeprefix("TENANTRY_").lower() for name, value in lines if not value}
    assert {name for name in left_empty if Settings.model_fields[name].default is not None} == set()


def test_a_dynamodb_url_names_its_table_region_and_endpoint() -> None:
    url = "dynamodb://tenantry-prod?region=eu-west-1&endpoint=http://127.0.0.1:8000"

    target = dynamo_target(Settings(_env_file=None, database_url=url).database_url)

    assert target == DynamoTarget("tenantry-prod", "eu-west-1", "http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("dynamodb://", "is not dynamodb://TABLE"),
        ("dynamodb://a?region=eu-west-1", "is not dynamodb://TABLE"),
        ("dynamodb://tenantry/path", "takes only ?region="),
        ("dynamodb://tenantry?key=secret", "takes only ?region="),
        ("dynamodb://tenantry?region=Mars", "is not an AWS region"),
        ("dynamodb://tenantry?endpoint=http://db.example.com", "must be https"),
    ],
)
def test_a_malformed_dynamodb_url_is_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=url)
    assert says in str(refused.value)


def test_a_bulk_invitation_holds_15_rows_on_dynamodb_and_100_elsewhere() -> None:
    on_dynamo = Settings(_env_file=None, database_url="dynamodb://tenantry?region=eu-west-1")
    on_sqlite = Settings(_env_file=None)

    assert (on_dynamo.bulk_invitation_max, on_sqlite.bulk_invitation_max) == (15, 100)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=on_dynamo.database_url, invitation_bulk_max=16)
    assert "at most 15 on DynamoDB" in str(refused.value)
