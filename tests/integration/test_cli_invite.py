"""`tenantry invite` and `tenantry invite bulk FILE.csv`, run in-process with typer's runner on
the test's own store (SQLite and PostgreSQL); what they made is read back through the HTTP
API, and the emailed links (delivered by the test to a real SMTP server) are accepted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tenantry.cli import app as cli_app
from tests import access_builders as access
from tests.audit_builders import cli_environment, logging_restored
from tests.harness import (
    PASSWORD,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    unique_email,
)


@pytest.fixture
def cli(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cli_environment(api.tenantry.settings, tmp_path, monkeypatch)
    with logging_restored():
        yield


def tenantry(*args: str) -> Result:
    return CliRunner().invoke(cli_app, list(args))


def invitations_of(api: Api, owner: Account) -> list[dict[str, Any]]:
    listed = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def test_the_operator_invites_an_address_and_its_link_is_accepted(
    api: Api, store_target: StoreTarget, clock: TestClock, cli: None
) -> None:
    _, org = api.owner_with_org()
    email = unique_email("ivy")

    result = tenantry("invite", "--org", org["slug"], "--email", email, "--role", "ADMIN", "--json")

    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert (made["email"], made["org_role"], made["status"]) == (email, "ADMIN", "PENDING")
    clock.advance(minutes=1)  # the CLI stamped the email by the real clock, a little later
    token = api.mailbox.last_invitation_token(email)
    accepted = api.client.post(
        f"/v1/invitations/{token}/accept", json={"name": "Ivy", "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    [event] = audit_events(store_target, org_id=org["id"], action="invitation.create")
    assert (event.actor_id, event.resource_id) == ("system", made["id"])
    assert token not in result.output


def test_bulk_reads_a_csv_invites_the_good_rows_and_names_the_bad_ones(
    api: Api, tmp_path: Path, cli: None
) -> None:
    owner, org = api.owner_with_org()
    team_id = access.made_team(api, owner, "Support")
    good, lead = unique_email("good"), unique_email("lead")
    file = tmp_path / "people.csv"
    file.write_text(
        "email,org_role,role_ids,team_id,team_role\n"
        f"{good},MEMBER,,,\n"
        f"{lead},ADMIN,,{team_id},LEAD\n"
        f"{good.upper()},,,,\n"
        "not an address,,,,\n",
        encoding="utf-8",
    )

    result = tenantry("invite", "bulk", str(file), "--org", org["id"], "--json")

    assert result.exit_code == 1, result.output  # some rows were not invited
    document = json.loads(result.stdout)
    assert document["written"] is True
    assert [(r["email"], r["status"], r["code"]) for r in document["rows"]] == [
        (good, "created", None),
        (lead, "created", None),
        (good, "duplicate", "duplicate_row"),
        ("not an address", "invalid", "invalid_email"),
    ]
    stored = {i["email"]: i for i in invitations_of(api, owner)}
    assert set(stored) == {good, lead}
    assert (stored[lead]["team_id"], stored[lead]["team_role"]) == (team_id, "LEAD")


def test_a_bulk_dry_run_writes_nothing_and_says_what_it_would_do(
    api: Api, tmp_path: Path, cli: None
) -> None:
    owner, org = api.owner_with_org()
    file = tmp_path / "people.csv"
    file.write_text(f"email\n{unique_email()}\n{unique_email()}\n", encoding="utf-8")

    result = tenantry("invite", "bulk", str(file), "--org", org["id"], "--dry-run")

    assert result.exit_code == 0, result.output
    assert "would invite 2 of 2 addresses" in result.stdout
    assert invitations_of(api, owner) == []


def test_a_csv_with_a_bad_header_or_role_is_refused_before_anything_is_sent(
    api: Api, tmp_path: Path, cli: None
) -> None:
    owner, org = api.owner_with_org()
    no_email = tmp_path / "no-email.csv"
    no_email.write_text("address\nivy@example.com\n", encoding="utf-8")
    bad_role = tmp_path / "bad-role.csv"
    bad_role.write_text(f"email,org_role\n{unique_email()},KING\n", encoding="utf-8")

    header = tenantry("invite", "bulk", str(no_email), "--org", org["id"])
    role = tenantry("invite", "bulk", str(bad_role), "--org", org["id"])

    assert header.exit_code == 2
    assert "invalid_csv" in header.output
    assert role.exit_code == 2
    assert "org_role is not one of OWNER, ADMIN, MEMBER on line 2" in role.output
    assert invitations_of(api, owner) == []
