"""The audit cases of seeds/001 (test_audit_logging_flow.py), made real.

The seed inserted events by hand into a DynamoDB table and read them back by key. Here the
events are what tenantry's own use cases recorded over HTTP (`org_with_history`: sign-up,
an organisation, a member, roles, a team, refusals and failures, in three phases of the test
clock), read through `GET /v1/organisations/{org}/audit-events` with each filter, and through
`tenantry audit list --org ... --json` on the same store, which must print the same events.
On SQLite and on PostgreSQL (as the runtime role, under row-level security).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantry.cli import app as cli_app
from tenantry.domain.audit import EventType, Outcome
from tests.audit_builders import (
    HISTORY,
    PHASES,
    History,
    cli_environment,
    cli_listing,
    everything,
    iso,
    logging_restored,
    newest_first,
    org_with_history,
    summary,
)
from tests.harness import ON_EVERY_STORE_USED, Api, StoreTarget, TestClock, audit_events

pytestmark = ON_EVERY_STORE_USED


@pytest.fixture
def history(api: Api, clock: TestClock) -> History:
    return org_with_history(api, clock)


@pytest.fixture
def cli(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`tenantry ...` on the test's own store and settings."""
    cli_environment(api.tenantry.settings, tmp_path, monkeypatch)
    with logging_restored():
        yield


def assert_newest_first(items: list[dict[str, Any]]) -> None:
    seqs = [item["seq"] for item in items]
    assert seqs == sorted(seqs, reverse=True), seqs
    assert len(set(seqs)) == len(seqs), seqs


def test_audit_events_queryable_by_org_and_date(
    api: Api, clock: TestClock, history: History, cli: None
) -> None:
    other_owner, other_org = api.owner_with_org()  # busy in the same minutes, elsewhere
    _, second, third = history.started

    by_phase = [
        everything(api, history.owner, to=iso(second)),
        everything(api, history.owner, **{"from": iso(second), "to": iso(third)}),
        everything(api, history.owner, **{"from": iso(third)}),
    ]

    assert [summary(items) for items in by_phase] == [newest_first(p) for p in PHASES]
    for items, start in zip(by_phase, history.started, strict=True):
        assert_newest_first(items)
        assert {item["occurred_at"] for item in items} == {start.strftime("%Y-%m-%dT%H:%M:%SZ")}
        assert {item["org_id"] for item in items} == {history.org_id}
    assert cli_listing(history.org_id, "--to", iso(second)) == by_phase[0]
    assert cli_listing(history.org_id, "--from", iso(second), "--to", iso(third)) == by_phase[1]
    assert cli_listing(history.org_id, "--from", iso(third)) == by_phase[2]
    elsewhere = {item["event_id"] for item in everything(api, other_owner)}
    assert elsewhere
    assert elsewhere.isdisjoint(i["event_id"] for p in by_phase for i in p)
    assert {item["org_id"] for item in everything(api, other_owner)} == {other_org["id"]}


def test_audit_events_queryable_by_user(api: Api, history: History, cli: None) -> None:
    member = history.member.user_id

    by_member = everything(api, history.owner, actor_id=member)
    by_owner = everything(api, history.owner, actor_id=history.owner.user_id)

    assert summary(by_member) == [
        ("auth.login", "SUCCESS", "AUTHENTICATION"),
        ("auth.token", "FAILURE", "AUTHENTICATION"),
        ("role:create", "DENIED", "AUTHORIZATION"),
        ("auth.refresh", "SUCCESS", "AUTHENTICATION"),
    ]
    assert {item["actor_id"] for item in by_member} == {member}
    assert {item["actor_id"] for item in by_owner} == {history.owner.user_id}
    assert len(by_member) + len(by_owner) == len(HISTORY)  # nobody else acted there
    assert_newest_first(by_owner)
    assert cli_listing(history.org_id, "--actor", member) == by_member
    assert cli_listing(history.org_id, "--actor", history.owner.user_id) == by_owner


def test_audit_events_queryable_by_resource(api: Api, history: History, cli: None) -> None:
    team = {"resource_type": "team", "resource_id": history.team_id}
    role = {"resource_type": "role", "resource_id": history.role_id}

    on_team = everything(api, history.owner, **team)
    on_role = everything(api, history.owner, **role)

    assert [item["action"] for item in on_team] == ["team.update", "team.member_add", "team.create"]
    assert [item["action"] for item in on_role] == ["role.update", "role.create"]
    assert {(i["resource_type"], i["resource_id"]) for i in on_team} == {("team", history.team_id)}
    team_options = ("--resource-type", "team", "--resource-id", history.team_id)
    assert cli_listing(history.org_id, *team_options) == on_team
    role_options = ("--resource-type", "role", "--resource-id", history.role_id)
    assert cli_listing(history.org_id, *role_options) == on_role
    # A refused creation names the organisation it was refused in as its resource.
    refused = everything(api, history.owner, resource_type="team", resource_id=history.org_id)
    assert [(i["action"], i["outcome"], i["reason"]) for i in refused] == [
        ("team.create", "FAILURE", "invalid_name")
    ]


EXPECTED_BY_TYPE = {
    event_type: [entry[0] for entry in newest_first(HISTORY) if entry[2] == event_type.value]
    for event_type in EventType
}


def test_audit_event_types_coverage(api: Api, history: History, cli: None) -> None:
    found = {
        event_type: everything(api, history.owner, event_type=event_type.value)
        for event_type in EventType
    }

    assert {t: [i["action"] for i in items] for t, items in found.items()} == EXPECTED_BY_TYPE
    # Every type tenantry records in an organisation is there, save INVITATION: no use case
    # emits one yet (invitations are the next feature), so its filter finds nothing.
    assert {t for t, items in found.items() if items} == set(EventType) - {EventType.INVITATION}
    assert found[EventType.INVITATION] == []
    for event_type, items in found.items():
        assert {item["event_type"] for item in items} <= {event_type.value}
        assert cli_listing(history.org_id, "--type", event_type.value) == items


def test_audit_event_outcomes(
    api: Api, history: History, store_target: StoreTarget, cli: None
) -> None:
    found = {outcome: everything(api, history.owner, outcome=outcome.value) for outcome in Outcome}

    assert [(i["action"], i["reason"]) for i in found[Outcome.FAILURE]] == [
        ("auth.token", "session_ended"),
        ("team.create", "invalid_name"),
        ("role.create", "invalid_permission"),
    ]
    assert [(i["action"], i["reason"], i["actor_id"]) for i in found[Outcome.DENIED]] == [
        ("role:create", "missing_permission", history.member.user_id)
    ]
    successes = [entry for entry in newest_first(HISTORY) if entry[1] == "SUCCESS"]
    assert summary(found[Outcome.SUCCESS]) == successes
    for outcome, items in found.items():
        assert {item["outcome"] for item in items} == {outcome.value}
        assert cli_listing(history.org_id, "--outcome", outcome.value) == items
    # The mistyped password belongs to no organisation: it is on the system chain (which
    # `audit list` cannot show: it takes an organisation), not in the organisation's log.
    failed_logins = audit_events(
        store_target, org_id=None, actor_id=history.owner.user_id, outcome=Outcome.FAILURE
    )
    assert [(e.action, e.reason, e.seq is not None) for e in failed_logins] == [
        ("auth.login", "wrong_password", True)
    ]
    assert "auth.login" not in {i["action"] for i in found[Outcome.FAILURE]}


def test_the_cli_refuses_an_empty_time_range_with_its_code(api: Api, cli: None) -> None:
    _, org = api.owner_with_org()
    command = ["audit", "list", "--org", org["id"], "--from", "2030-01-02T00:00:00"]

    result = CliRunner().invoke(cli_app, [*command, "--to", "2030-01-01T00:00:00"])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert "error invalid_time_range:" in result.output


def test_the_cli_pages_a_chain_with_the_cursor_it_prints(
    api: Api, history: History, cli: None
) -> None:
    org_id = history.org_id
    first = CliRunner().invoke(
        cli_app, ["audit", "list", "--org", org_id, "--limit", "2", "--json"]
    )
    body = json.loads(first.stdout)
    second = cli_listing(org_id, "--limit", "2", "--cursor", body["next_cursor"])
    table = CliRunner().invoke(cli_app, ["audit", "list", "--org", org_id, "--limit", "2"])

    everything_listed = everything(api, history.owner)
    assert [i["seq"] for i in body["items"] + second] == [i["seq"] for i in everything_listed[:4]]
    assert table.exit_code == 0, table.output
    assert f"more: --cursor {body['next_cursor']}" in table.stderr


def test_the_cli_lists_the_system_chain_by_its_name(
    api: Api, store_target: StoreTarget, cli: None
) -> None:
    account = api.verified_account()  # signing up and in: account events, of no organisation

    listed = cli_listing("system", "--actor", account.user_id)

    stored = audit_events(store_target, org_id=None, actor_id=account.user_id)
    assert [i["event_id"] for i in listed] == [e.event_id for e in reversed(stored)]
    assert {i["org_id"] for i in listed} == {None}
    assert "auth.login" in {i["action"] for i in listed}


def test_the_cli_names_an_organisation_by_its_slug_too(
    api: Api, history: History, cli: None
) -> None:
    slug = api.client.get(f"/v1/organisations/{history.org_id}", headers=history.owner.auth)
    assert slug.status_code == 200, slug.text

    by_slug = cli_listing(slug.json()["slug"], "--limit", "5")
    unknown = CliRunner().invoke(cli_app, ["audit", "list", "--org", "no-such-shop"])

    assert by_slug == cli_listing(history.org_id, "--limit", "5")
    assert unknown.exit_code == 1
    assert "error organisation_not_found:" in unknown.output
