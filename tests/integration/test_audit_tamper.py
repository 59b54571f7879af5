"""Tampering with the audit log in the database is caught, and the broken link named.

An organisation's events are made through the HTTP API; the test then changes their rows
directly, as someone with the database's owner role could (on PostgreSQL the owner is bound
by forced row-level security, so the tampering transaction lifts it for itself and puts it
back), or their items on DynamoDB, as a role that may write the table could.
`GET /v1/organisations/{org}/audit-events/verify` and `tenantry audit verify --org ORG --json`
must each name the problem and the event at which the chain first breaks.

Only the test's own organisations are tampered with: the shared PostgreSQL database (and the
worker's DynamoDB table) keep working for later tests, with a few broken chains of
organisations nobody uses again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import AuditDraft, AuditEvent, EventType, Outcome, unchained_event
from tenantry.domain.audit_chain import ChainHead, chain_of, chained, hash_of
from tenantry.domain.ids import new_id
from tenantry.settings import dynamo_target
from tenantry.store.dynamo import codec
from tenantry.store.dynamo import keys as dynamo_keys
from tenantry.store.dynamo.audit import event_attributes
from tenantry.store.dynamo.store import dynamo_client
from tenantry.store.sql.tables import audit_events
from tests.access_builders import made_team
from tests.harness import ON_EVERY_STORE_USED, Account, Api, StoreTarget, connected
from tests.harness import audit_events as stored_events
from tests.integration.test_cli import Cli, _logging_restored, environment

__all__ = ["_logging_restored", "environment"]  # fixtures shared with test_cli

pytestmark = ON_EVERY_STORE_USED

TEAMS = 5  # each an event, so that the chain has a middle and an end to tamper with


@pytest.fixture
def cli(
    store_target: StoreTarget,
    tenantry: Tenantry,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """The CLI on the test's store, as the runtime role, with the API's own secret key."""
    monkeypatch.setenv("TENANTRY_DATABASE_URL", store_target.url)
    if store_target.migration_url is not None:
        monkeypatch.setenv("TENANTRY_MIGRATION_DATABASE_URL", store_target.migration_url)
    secret = tenantry.settings.secret_key
    assert secret is not None
    monkeypatch.setenv("TENANTRY_SECRET_KEY", secret.get_secret_value())
    return Cli(store_target.url, environment / "mail")


@dataclass(frozen=True)
class AuditedOrg:
    """An organisation with a chain of events made through the API, and its owner."""

    id: str
    owner: Account
    events: list[AuditEvent]  # in seq order


def audited_org(api: Api, target: StoreTarget) -> AuditedOrg:
    owner, org = api.owner_with_org()
    for n in range(TEAMS):
        made_team(api, owner, f"Team {n}")
    events = stored_events(target, org_id=org["id"])
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) > TEAMS
    return AuditedOrg(org["id"], owner, events)


# --- tampering, as the owner role ------------------------------------------------------------


class Tampering(Protocol):
    """What someone who may write the store's audit events directly can do to them."""

    def update(self, event: AuditEvent, **values: Any) -> None: ...
    def delete(self, *events: AuditEvent) -> None: ...
    def insert(self, event: AuditEvent) -> None: ...
    def swap_seqs(self, first: AuditEvent, second: AuditEvent) -> None: ...


class SqlTampering:
    """As the database's owner role, on rows."""

    def __init__(self, db: sa.Connection) -> None:
        self._db = db

    def update(self, event: AuditEvent, **values: Any) -> None:
        self._db.execute(audit_events.update().where(_row(event.event_id)).values(**values))

    def delete(self, *events: AuditEvent) -> None:
        ids = [event.event_id for event in events]
        self._db.execute(audit_events.delete().where(audit_events.c.event_id.in_(ids)))

    def insert(self, event: AuditEvent) -> None:
        self._db.execute(audit_events.insert().values(**row_of(event)))

    def swap_seqs(self, first: AuditEvent, second: AuditEvent) -> None:
        # Through a free seq: (org_id, seq) is unique.
        self.update(first, seq=-1)
        self.update(second, seq=first.seq)
        self.update(first, seq=second.seq)


class DynamoTampering:
    """As a role that may write the table, on items (an event's key is its chain and seq)."""

    def __init__(self, target: StoreTarget) -> None:
        where = dynamo_target(target.url)
        self._client, self._table = dynamo_client(where), where.table

    def update(self, event: AuditEvent, **values: Any) -> None:
        item = self._item(event)
        if "details" in values:  # kept as JSON text
            values["details"] = json.dumps(values["details"])
        self._put({**item, **values})

    def delete(self, *events: AuditEvent) -> None:
        for event in events:
            self._client.delete_item(TableName=self._table, Key=codec.encode(_key(event)))

    def insert(self, event: AuditEvent) -> None:
        self._put({**_key(event), **event_attributes(event, chain_of(event.org_id))})

    def swap_seqs(self, first: AuditEvent, second: AuditEvent) -> None:
        one, other = self._item(first), self._item(second)
        self._put({**other, "SK": one["SK"], "seq": first.seq})
        self._put({**one, "SK": other["SK"], "seq": second.seq})

    def _item(self, event: AuditEvent) -> dict[str, Any]:
        found = self._client.get_item(
            TableName=self._table, Key=codec.encode(_key(event)), ConsistentRead=True
        )
        return codec.decode(found["Item"])

    def _put(self, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item=codec.encode(item))


def _key(event: AuditEvent) -> dict[str, str]:
    return dynamo_keys.audit_event(chain_of(event.org_id), event.seq or 0)


@contextmanager
def tampering(target: StoreTarget) -> Iterator[Tampering]:
    """On SQL, one transaction as the database's owner, free of row-level security on audit
    events until it commits (ALTER TABLE is transactional: a failure puts FORCE back too)."""
    if target.name == "dynamo":
        yield DynamoTampering(target)
        return
    postgres = target.migration_url is not None
    with connected(target.migration_url or target.url) as db, db.begin():
        if postgres:
            db.execute(sa.text("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY"))
        yield SqlTampering(db)
        if postgres:
            db.execute(sa.text("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY"))


def row_of(event: AuditEvent) -> dict[str, Any]:
    return {name: v.value if isinstance(v, Enum) else v for name, v in asdict(event).items()}


def _row(event_id: str) -> sa.ColumnElement[bool]:
    return audit_events.c.event_id == event_id


def edit_a_field(store: Tampering, events: list[AuditEvent]) -> None:
    store.update(events[2], action="team.delete")


def delete_a_middle_row(store: Tampering, events: list[AuditEvent]) -> None:
    store.delete(events[2])


def forge_a_row_at_the_tail(store: Tampering, events: list[AuditEvent]) -> None:
    last = events[-1]
    head = ChainHead(last.org_id or "", last.seq or 0, last.hash or "", last.occurred_at)
    draft = AuditDraft(
        event_type=EventType.PERMISSION_CHANGE,
        action="member.role_change",
        outcome=Outcome.SUCCESS,
        org_id=last.org_id,
        actor_id=last.actor_id,
        details={"after": {"org_role": "OWNER"}},
    )
    later = last.occurred_at + timedelta(seconds=1)
    # Hashed as the service hashes: only the chain's head knows the row is not one of its own.
    [forged], _ = chained(head, [unchained_event(draft, at=later, request_id=None)])
    store.insert(forged)


def insert_a_row_without_seq(store: Tampering, events: list[AuditEvent]) -> None:
    store.insert(replace(events[1], event_id=new_id("evt"), seq=None, prev_hash=None, hash=None))


def swap_two_rows(store: Tampering, events: list[AuditEvent]) -> None:
    store.swap_seqs(events[1], events[2])


def truncate_the_tail(store: Tampering, events: list[AuditEvent]) -> None:
    store.delete(*events[-2:])


def edit_and_rehash_a_row(store: Tampering, events: list[AuditEvent]) -> None:
    edited = replace(events[2], details={"name": "Renamed by hand"})
    store.update(edited, details=edited.details, hash=hash_of(edited))


Tamper = Callable[[Tampering, list[AuditEvent]], None]
# Where each kind of tampering is caught: (problem, the event's index in the original chain
# (None: the inserted row), the seq reported).
Expected = Callable[[list[AuditEvent]], tuple[str, int | None, int | None]]

CASES: dict[str, tuple[Tamper, Expected]] = {
    "edit": (edit_a_field, lambda events: ("hash_mismatch", 2, 3)),
    "delete": (delete_a_middle_row, lambda events: ("seq_gap", 3, 4)),
    "forge_tail": (
        forge_a_row_at_the_tail,
        lambda events: ("head_mismatch", None, len(events) + 1),
    ),
    "insert_unchained": (insert_a_row_without_seq, lambda events: ("unchained", None, None)),
    # The third event now holds seq 2, which its hash was not computed with.
    "reorder": (swap_two_rows, lambda events: ("hash_mismatch", 2, 2)),
    "truncate": (truncate_the_tail, lambda events: ("head_mismatch", -3, len(events) - 2)),
    "edit_and_rehash": (edit_and_rehash_a_row, lambda events: ("prev_hash_mismatch", 3, 4)),
}


# An event's item is keyed by its chain and seq on DynamoDB: an item without a seq is never
# read as an event, so there is no unchained event to catch.
NOT_ON_DYNAMODB = {"insert_unchained"}


# --- what the verifiers report -------------------------------------------------------------


def verified_over_http(api: Api, org: AuditedOrg) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/organisations/{org.id}/audit-events/verify", headers=org.owner.auth
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def verified_by_cli(cli: Cli, *args: str, exit_code: int) -> list[dict[str, Any]]:
    result = cli("audit", "verify", *args, "--json")
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    chains: list[dict[str, Any]] = json.loads(result.stdout)["chains"]
    return chains


def break_of(report: dict[str, Any]) -> tuple[str, str | None, int | None]:
    broken = report["first_break"]
    assert report["ok"] is False, report
    assert broken is not None, report
    return broken["problem"], broken["event_id"], broken["seq"]


def intact(report: dict[str, Any], org: AuditedOrg) -> None:
    assert report["chain_id"] == org.id
    assert (report["ok"], report["first_break"]) == (True, None), report
    assert report["checked"] == report["head_seq"] >= len(org.events)


@pytest.mark.parametrize(
    ("store_target", "case"),
    [
        (store, case)
        for store in ("sqlite", "postgres", "dynamo")
        for case in CASES
        if store != "dynamo" or case not in NOT_ON_DYNAMODB
    ],
    indirect=["store_target"],
)
def test_tampering_is_caught_at_the_right_event_over_http_and_by_the_cli(
    api: Api, store_target: StoreTarget, cli: Cli, case: str
) -> None:
    org = audited_org(api, store_target)
    tamper, expected = CASES[case]
    with tampering(store_target) as store:
        tamper(store, org.events)
    problem, index, seq = expected(org.events)
    known = {event.event_id for event in org.events}
    if index is None:  # the row the tampering inserted
        [inserted] = [
            e for e in stored_events(store_target, org_id=org.id) if e.event_id not in known
        ]
        event_id = inserted.event_id
    else:
        event_id = org.events[index].event_id

    over_http = verified_over_http(api, org)
    [by_cli] = verified_by_cli(cli, "--org", org.id, exit_code=1)

    assert break_of(over_http) == (problem, event_id, seq)
    assert break_of(by_cli) == (problem, event_id, seq)
    assert by_cli["chain_id"] == over_http["chain_id"] == org.id


def test_an_untouched_organisation_verifies_and_another_ones_tampering_is_not_in_its_report(
    api: Api, store_target: StoreTarget, cli: Cli
) -> None:
    untouched, tampered = audited_org(api, store_target), audited_org(api, store_target)
    with tampering(store_target) as store:
        edit_a_field(store, tampered.events)

    intact(verified_over_http(api, untouched), untouched)
    [by_cli] = verified_by_cli(cli, "--org", untouched.id, exit_code=0)
    intact(by_cli, untouched)
    assert break_of(verified_over_http(api, tampered))[0] == "hash_mismatch"


def test_verify_without_an_organisation_reports_every_chain_and_fails_on_a_broken_one(
    api: Api, store_target: StoreTarget, cli: Cli
) -> None:
    untouched, tampered = audited_org(api, store_target), audited_org(api, store_target)
    with tampering(store_target) as store:
        delete_a_middle_row(store, tampered.events)

    chains = verified_by_cli(cli, exit_code=1)

    by_id = {report["chain_id"]: report for report in chains}
    assert [report["chain_id"] for report in chains] == sorted(by_id)
    intact(by_id[untouched.id], untouched)
    assert break_of(by_id[tampered.id]) == ("seq_gap", tampered.events[3].event_id, 4)
    assert by_id["system"]["ok"] is True  # signing up and in wrote account events there


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # a database of its own
def test_verify_without_an_organisation_exits_0_when_every_chain_holds(
    api: Api, store_target: StoreTarget, cli: Cli
) -> None:
    orgs = [audited_org(api, store_target), audited_org(api, store_target)]

    chains = verified_by_cli(cli, exit_code=0)

    assert {report["chain_id"] for report in chains} == {"system", *(org.id for org in orgs)}
    assert all(report["ok"] for report in chains), chains


def test_the_system_chain_is_verified_by_its_name(
    api: Api, store_target: StoreTarget, cli: Cli
) -> None:
    api.verified_account()  # signing up and in: account events, of no organisation

    [report] = verified_by_cli(cli, "--org", "system", exit_code=0)

    assert (report["chain_id"], report["ok"]) == ("system", True), report
    assert report["checked"] == report["head_seq"] > 0
