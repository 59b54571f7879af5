"""`GET /v1/organisations/{org}/audit-events`, one event, the export and the chain check, as
a reader with `audit:read` meets them: newest first, every filter, a capped limit, cursors
that hold while the log grows, refusals (themselves on record), and exports that stream the
whole chain oldest first with every event's hash recomputable. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from tenantry.audit.schemas import AuditEventOut
from tenantry.audit.service import WALK_PAGE
from tenantry.domain.audit import AuditDraft, EventType, Outcome
from tenantry.domain.audit_chain import GENESIS, hash_of
from tests import access_builders as access
from tests.audit_builders import (
    HISTORY,
    PHASES,
    History,
    appended,
    event_of,
    everything,
    export,
    exported_lines,
    iso,
    list_log,
    listed,
    log_path,
    newest_first,
    org_with_history,
    pages,
    summary,
)
from tests.harness import ON_EVERY_STORE, Account, Api, TestClock
from tests.integration.account_checks import assert_problem

pytestmark = ON_EVERY_STORE


@pytest.fixture
def history(api: Api, clock: TestClock) -> History:
    return org_with_history(api, clock)


def roles_made(api: Api, owner: Account, count: int, label: str = "Role") -> list[str]:
    """`count` roles created through the API: one `role.create` event each."""
    return [access.made_role(api, owner, f"{label} {n}", ["site:read"]) for n in range(count)]


def actions_of(items: list[dict[str, Any]]) -> list[str]:
    return [item["action"] for item in items]


def ids_of(items: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in items]


# --- the list ---------------------------------------------------------------------------------


def test_the_log_lists_the_organisations_chain_newest_first(api: Api) -> None:
    owner, org = api.owner_with_org()
    roles_made(api, owner, 3)

    items = listed(api, owner)

    assert [item["seq"] for item in items] == [6, 5, 4, 3, 2, 1]
    assert actions_of(items) == [
        *["role.create"] * 3,
        "auth.refresh",
        "organisation.provisioned",
        "organisation.create",
    ]
    assert {item["org_id"] for item in items} == {org["id"]}
    oldest_first = list(reversed(items))
    assert [item["prev_hash"] for item in oldest_first] == [
        GENESIS,
        *[item["hash"] for item in oldest_first[:-1]],
    ]
    assert list(items[0]) == list(AuditEventOut.model_fields)


Case = Callable[[History], tuple[dict[str, str], list[str]]]
FILTER_ALONE: dict[str, Case] = {
    "from": lambda h: ({"from": iso(h.started[2])}, [e[0] for e in newest_first(PHASES[2])]),
    "to": lambda h: ({"to": iso(h.started[1])}, [e[0] for e in newest_first(PHASES[0])]),
    "actor_id": lambda h: (
        {"actor_id": h.member.user_id},
        ["auth.login", "auth.token", "role:create", "auth.refresh"],
    ),
    "event_type": lambda h: (
        {"event_type": "ROLE_CHANGE"},
        ["role.create", "role.assign", "role.create"],
    ),
    "resource_type": lambda h: (
        {"resource_type": "team"},
        ["team.create", "team.update", "team.member_add", "team.create"],
    ),
    "resource_id": lambda h: (
        {"resource_id": h.member.user_id},
        ["auth.token", "member.role_change", "member.role_change", "role.assign"],
    ),
    "outcome": lambda h: ({"outcome": "DENIED"}, ["role:create"]),
    "action": lambda h: ({"action": "role.create"}, ["role.create", "role.create"]),
}


def test_each_filter_alone_keeps_exactly_its_events(api: Api, history: History) -> None:
    # One history for every filter: making it is most of the test's time.
    found = {}
    for name, case in FILTER_ALONE.items():
        params, expected = case(history)
        found[name] = (actions_of(listed(api, history.owner, **params, limit=200)), expected)

    assert {name: got for name, (got, _) in found.items()} == {
        name: expected for name, (_, expected) in found.items()
    }
    assert len(listed(api, history.owner, limit=200)) == len(HISTORY)  # the rest is there


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 201}, "validation_failed"),
        ({"limit": 0}, "validation_failed"),
        ({"from": "2030-01-01T00:00:00"}, "validation_failed"),  # no time zone
        ({"to": "2030-01-01T00:00:00"}, "validation_failed"),
        ({"from": "2030-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "invalid_time_range"),
        ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00+01:00"}, "invalid_time_range"),
        ({"cursor": "not a cursor"}, "invalid_cursor"),
        ({"event_type": "INVENTED"}, "validation_failed"),
    ],
    ids=[
        "limit-over-200",
        "limit-0",
        "naive-from",
        "naive-to",
        "from-equals-to",
        "from-after-to",
        "garbage-cursor",
        "unknown-type",
    ],
)
def test_a_malformed_query_is_refused_with_its_code(
    api: Api, params: dict[str, Any], code: str
) -> None:
    owner, _ = api.owner_with_org()

    assert_problem(list_log(api, owner, **params), 422, code)


def test_the_limit_goes_up_to_200(api: Api) -> None:
    owner, _ = api.owner_with_org()
    roles_made(api, owner, 2)

    first = list_log(api, owner, limit=1).json()
    capped = list_log(api, owner, limit=200).json()

    assert (len(first["items"]), first["next_cursor"] is not None) == (1, True)
    assert (len(capped["items"]), capped["next_cursor"]) == (5, None)


# --- cursors ----------------------------------------------------------------------------------


def test_cursor_pages_cover_the_log_exactly_once_filtered_or_not(
    api: Api, history: History
) -> None:
    owner = history.owner

    walked = pages(api, owner, limit=4)
    one_by_one = pages(api, owner, limit=1, actor_id=owner.user_id)

    assert [len(page) for page in walked] == [4, 4, 4, 4, 2]
    assert [item for page in walked for item in page] == everything(api, owner)
    assert [entry for page in walked for entry in summary(page)] == newest_first(HISTORY)
    assert [len(page) for page in one_by_one] == [1] * 14
    assert [item for page in one_by_one for item in page] == everything(
        api, owner, actor_id=owner.user_id
    )


def test_pages_stay_put_while_new_events_arrive(api: Api, history: History) -> None:
    owner = history.owner
    before = everything(api, owner)
    page = list_log(api, owner, limit=5).json()
    walked, arrived = [page["items"]], []

    while page["next_cursor"] is not None:
        arrived += roles_made(api, owner, 1, label=f"Arrived {len(walked)}")  # between pages
        page = list_log(api, owner, limit=5, cursor=page["next_cursor"]).json()
        walked.append(page["items"])

    assert [item for items in walked for item in items] == before  # none twice, none skipped
    newest = listed(api, owner, limit=len(arrived))
    assert [item["resource_id"] for item in newest] == list(reversed(arrived))
    assert {item["seq"] for item in newest} == set(
        range(len(before) + 1, len(before) + len(arrived) + 1)
    )


def test_a_cursor_of_another_organisations_log_is_invalid_here(api: Api) -> None:
    owner, _ = api.owner_with_org()
    other, _ = api.owner_with_org()
    theirs = list_log(api, other, limit=1).json()["next_cursor"]
    assert theirs is not None

    assert_problem(list_log(api, owner, limit=1, cursor=theirs), 422, "invalid_cursor")


def test_a_cursor_holding_json_true_is_invalid(api: Api) -> None:
    owner, org = api.owner_with_org()
    forged = base64.urlsafe_b64encode(json.dumps(["audit", org["id"], True]).encode()).decode()

    assert_problem(list_log(api, owner, cursor=forged.rstrip("=")), 422, "invalid_cursor")


def test_a_reader_without_audit_read_is_refused_before_the_query_is_read(api: Api) -> None:
    # A bad cursor or range from a member who may not read is a refusal on record, not a 422.
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    bad = {"cursor": "not a cursor", "from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}

    refused = list_log(api, member, org["id"], **bad)

    assert_problem(refused, 403, "permission_denied")
    denied = everything(api, owner, outcome="DENIED", actor_id=member.user_id)
    assert [(i["action"], i["reason"]) for i in denied] == [("audit:read", "missing_permission")]


# --- one event --------------------------------------------------------------------------------


def test_one_event_carries_its_chain_fields_and_its_hash_recomputes(
    api: Api, history: History
) -> None:
    owner = history.owner
    items = everything(api, owner)

    fetched = [
        api.client.get(log_path(history.org_id, i["event_id"]), headers=owner.auth) for i in items
    ]

    assert [response.status_code for response in fetched] == [200] * len(items)
    assert [response.json() for response in fetched] == items
    for item in items:
        assert hash_of(event_of(item)) == item["hash"], item
    by_seq = {item["seq"]: item for item in items}
    assert by_seq[1]["prev_hash"] == GENESIS
    assert all(by_seq[s]["prev_hash"] == by_seq[s - 1]["hash"] for s in range(2, len(items) + 1))


def test_another_organisations_event_is_not_found_here(api: Api) -> None:
    owner, org = api.owner_with_org()
    other, other_org = api.owner_with_org()
    [theirs, *_] = listed(api, other)

    for event_id in (theirs["event_id"], "evt_does_not_exist"):
        refused = api.client.get(log_path(org["id"], event_id), headers=owner.auth)
        assert_problem(refused, 404, "audit_event_not_found")
    # Each is on record at home, alike: the caller cannot tell the two apart there either.
    home = everything(api, owner, outcome="DENIED")
    assert [(i["action"], i["reason"], i["resource_id"]) for i in reversed(home)] == [
        ("audit:read", "audit_event_not_found", theirs["event_id"]),
        ("audit:read", "audit_event_not_found", "evt_does_not_exist"),
    ]
    at_home = api.client.get(log_path(other_org["id"], theirs["event_id"]), headers=other.auth)
    assert at_home.json() == theirs


# --- who may read -----------------------------------------------------------------------------


def test_a_member_without_audit_read_is_refused_and_the_refusal_is_on_record(
    api: Api,
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    [event, *_] = listed(api, owner)
    asked = {
        "list": log_path(org["id"]),
        "one": log_path(org["id"], event["event_id"]),
        "export": log_path(org["id"], "export"),
        "verify": log_path(org["id"], "verify"),
    }

    for path in asked.values():
        body = assert_problem(api.client.get(path, headers=member.auth), 403, "permission_denied")
        assert body["permission"] == "audit:read"

    denied = everything(api, owner, outcome="DENIED")
    assert [
        (
            i["actor_id"],
            i["event_type"],
            i["action"],
            i["reason"],
            i["resource_type"],
            i["resource_id"],
        )
        for i in denied
    ] == [
        (member.user_id, "AUTHORIZATION", "audit:read", "missing_permission", "audit", org["id"]),
        (member.user_id, "AUTHORIZATION", "audit:read", "missing_permission", "audit", org["id"]),
        (
            member.user_id,
            "AUTHORIZATION",
            "audit:read",
            "missing_permission",
            "audit",
            event["event_id"],
        ),
        (member.user_id, "AUTHORIZATION", "audit:read", "missing_permission", "audit", org["id"]),
    ]


def test_another_organisations_log_is_not_found_and_the_attempt_stays_home(api: Api) -> None:
    owner, _ = api.owner_with_org()
    other, other_org = api.owner_with_org()
    theirs_before = everything(api, other)

    for path in ("", "/export", "/verify", f"/{theirs_before[0]['event_id']}"):
        refused = api.client.get(log_path(other_org["id"]) + path, headers=owner.auth)
        assert_problem(refused, 404, "organisation_not_found")

    assert everything(api, other) == theirs_before  # nothing recorded in theirs
    home = everything(api, owner, outcome="DENIED")
    assert [(i["action"], i["reason"]) for i in home] == [("audit:read", "other_organisation")] * 4


# --- export -----------------------------------------------------------------------------------


def test_a_jsonl_export_streams_the_chain_oldest_first_with_hashes_that_recompute(
    api: Api, history: History
) -> None:
    owner = history.owner

    lines = exported_lines(api, owner)
    roles = exported_lines(api, owner, event_type="ROLE_CHANGE")
    phase = exported_lines(
        api, owner, **{"from": iso(history.started[1]), "to": iso(history.started[2])}
    )

    assert [line["seq"] for line in lines] == list(range(1, len(HISTORY) + 1))
    assert [line["event_id"] for line in lines] == list(reversed(ids_of(everything(api, owner))))
    for line in lines:
        assert hash_of(event_of(line)) == line["hash"], line
    assert [line["action"] for line in roles] == ["role.create", "role.assign", "role.create"]
    assert [(line["action"], line["outcome"], line["event_type"]) for line in phase] == PHASES[1]


def test_a_csv_export_has_a_header_and_defuses_formulas(api: Api) -> None:
    owner, org = api.owner_with_org()
    # The refused read of a role that does not exist records the id it was asked for.
    probe = api.client.get(access.org_path(owner, "roles", "=1+2"), headers=owner.auth)
    assert_problem(probe, 404, "role_not_found")

    response = export(api, owner, "csv")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header == list(AuditEventOut.model_fields)
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [record["seq"] for record in records] == ["1", "2", "3", "4"]
    assert records[-1]["resource_id"] == "'=1+2"
    assert exported_lines(api, owner)[-1]["resource_id"] == "=1+2"  # JSON Lines keep it
    assert records[0]["org_id"] == org["id"]


def test_an_export_whose_time_range_is_empty_is_refused_before_it_streams(api: Api) -> None:
    owner, _ = api.owner_with_org()
    backwards = {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}

    for fmt in ("jsonl", "csv"):
        assert_problem(export(api, owner, fmt, **backwards), 422, "invalid_time_range")


def test_an_export_of_more_than_a_page_crosses_pages_once(api: Api, clock: TestClock) -> None:
    owner, org = api.owner_with_org()
    bulk = WALK_PAGE + 100
    drafts = [
        (
            AuditDraft(
                event_type=EventType.CONFIGURATION,
                action="item.import",
                outcome=Outcome.SUCCESS,
                org_id=org["id"],
                actor_id=owner.user_id,
                resource_type="item",
                resource_id=f"item-{n}",
            ),
            clock.now(),
        )
        for n in range(bulk)
    ]
    appended(api.tenantry.store, org["id"], drafts)
    roles_made(api, owner, 1)
    total = 3 + bulk + 1

    lines = exported_lines(api, owner)
    imports = exported_lines(api, owner, action="item.import")
    csv_rows = export(api, owner, "csv").text.splitlines()

    assert [line["seq"] for line in lines] == list(range(1, total + 1))
    assert [line["resource_id"] for line in imports] == [f"item-{n}" for n in range(bulk)]
    assert [line["seq"] for line in imports] == list(range(4, 4 + bulk))
    assert len(csv_rows) == 1 + total
    assert lines[-1]["action"] == "role.create"


# --- the chain check --------------------------------------------------------------------------


def test_an_untouched_organisations_chain_verifies(api: Api, history: History) -> None:
    response = api.client.get(log_path(history.org_id, "verify"), headers=history.owner.auth)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "chain_id": history.org_id,
        "checked": len(HISTORY),
        "head_seq": len(HISTORY),
        "start_seq": 0,
        "first_break": None,
    }
