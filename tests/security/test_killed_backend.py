"""Faults: the PostgreSQL backend serving each of twelve write use cases is killed
(`pg_terminate_backend`) just before each of its statements in turn, the audit event's
insert among them. Each attempt answers 503 `store_unavailable` (never a 500, never a
trace), leaves the organisation's rows untouched (the change and its audit event land
together or not at all), and the same request sent again succeeds.

The fault is injected at the driver's boundary (SQLAlchemy's `before_cursor_execute` on the
store's engine), from a second, privileged connection: tenantry's code runs untouched."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tests.access_builders import made_role, made_team, org_path
from tests.harness import Account, Api, StoreTarget, privileged, unique_email

pytestmark = pytest.mark.parametrize("store_target", ["postgres"], indirect=True)

# The rows of an organisation, and what marks a refusal rather than a change.
ORG_TABLES = (
    "organisations",
    "memberships",
    "roles",
    "role_assignments",
    "teams",
    "team_memberships",
    "invitations",
    "audit_events",
)


class Killer:
    """Kills the backend of the connection about to run the `at`-th statement counted."""

    def __init__(self, api: Api, target: StoreTarget) -> None:
        self.engine = api.tenantry.store.engine  # type: ignore[attr-defined]
        self.target = target
        self.at: int | None = None
        self.seen: list[str] = []
        sa.event.listen(self.engine, "before_cursor_execute", self.before)

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)
        if len(self.seen) == self.at:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with privileged(self.target) as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})

    def counting(self, at: int | None = None) -> None:
        self.at, self.seen = at, []

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self.before)


@pytest.fixture
def killer(api: Api, store_target: StoreTarget) -> Iterator[Killer]:
    made = Killer(api, store_target)
    yield made
    made.close()


@dataclass(frozen=True)
class Write:
    name: str
    send: Callable[[Api, Account, dict[str, str]], Any]  # the request, on the world's ids


def _world(api: Api) -> tuple[Account, dict[str, str]]:
    # A fresh hour: every world signs up from the same client (the mail-request limit).
    api.tenantry.clock.advance(hours=1)  # type: ignore[attr-defined]
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    email = unique_email("faulted")
    invited = api.client.post(
        org_path(owner, "invitations"), json={"email": email}, headers=owner.auth
    )
    assert invited.status_code == 201, invited.text
    ids = {
        "org": org["id"],
        "member": member.user_id,
        "role": made_role(api, owner, "Faulted", ["site:read"]),
        "team": made_team(api, owner, "Faulted"),
        "invitation": invited.json()["id"],
        "link": api.mailbox.last_invitation_token(email),
    }
    return owner, ids


WRITES = [
    Write(
        "rename the organisation",
        lambda api, o, ids: api.client.patch(org_path(o), json={"name": "Renamed"}, headers=o.auth),
    ),
    Write(
        "create a role",
        lambda api, o, ids: api.client.post(
            org_path(o, "roles"), json={"name": "New", "permissions": ["site:*"]}, headers=o.auth
        ),
    ),
    Write(
        "assign a role",
        lambda api, o, ids: api.client.put(
            org_path(o, "members", ids["member"], "roles", ids["role"]), headers=o.auth
        ),
    ),
    Write(
        "create a team",
        lambda api, o, ids: api.client.post(
            org_path(o, "teams"), json={"name": "New"}, headers=o.auth
        ),
    ),
    Write(
        "add to a team",
        lambda api, o, ids: api.client.post(
            org_path(o, "teams", ids["team"], "members"),
            json={"user_id": ids["member"]},
            headers=o.auth,
        ),
    ),
    Write(
        "invite",
        lambda api, o, ids: api.client.post(
            org_path(o, "invitations"), json={"email": "faulted@example.com"}, headers=o.auth
        ),
    ),
    Write(
        "promote a member",
        lambda api, o, ids: api.client.patch(
            org_path(o, "members", ids["member"]), json={"org_role": "ADMIN"}, headers=o.auth
        ),
    ),
    Write(
        "delete a team",
        lambda api, o, ids: api.client.delete(org_path(o, "teams", ids["team"]), headers=o.auth),
    ),
    Write(
        "revoke an invitation",
        lambda api, o, ids: api.client.delete(
            org_path(o, "invitations", ids["invitation"]), headers=o.auth
        ),
    ),
    Write(
        "accept an invitation as a new account",
        lambda api, o, ids: api.client.post(
            f"/v1/invitations/{ids['link']}/accept",
            json={"name": "Faulted", "password": "a long enough password"},
        ),
    ),
    Write(
        "hand the organisation over",
        lambda api, o, ids: api.client.post(
            org_path(o, "transfer-ownership"), json={"user_id": ids["member"]}, headers=o.auth
        ),
    ),
    Write(
        "remove a member",
        lambda api, o, ids: api.client.delete(
            org_path(o, "members", ids["member"]), headers=o.auth
        ),
    ),
]


def org_rows(target: StoreTarget, org_id: str) -> dict[str, list[str]]:
    """Every row of the organisation, table by table; of its audit log, the changes (a
    refusal recorded on its own, `transaction` FAILURE, is the fault being on record)."""
    rows: dict[str, list[str]] = {}
    with privileged(target) as db:
        for table in ORG_TABLES:
            key = "id" if table == "organisations" else "org_id"
            found = db.execute(
                sa.text(f"SELECT * FROM {table} WHERE {key} = :org"), {"org": org_id}
            )
            rows[table] = sorted(
                json.dumps(dict(row._mapping), default=str, sort_keys=True)
                for row in found
                if not (table == "audit_events" and row._mapping["action"] == "transaction")
            )
    return rows


@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_a_backend_killed_at_any_statement_leaves_all_or_nothing_and_a_retry_succeeds(
    api: Api, store_target: StoreTarget, killer: Killer, write: Write
) -> None:
    # How many statements the write runs, counted on a world of its own.
    counted_on = _world(api)
    killer.counting()
    assert write.send(api, *counted_on).is_success
    statements = list(killer.seen)
    assert len(statements) >= 3, statements
    owner, ids = _world(api)
    wrong = []

    for at, statement in enumerate(statements, start=1):
        before = org_rows(store_target, ids["org"])
        killer.counting(at)
        answer = write.send(api, owner, ids)
        killer.counting()
        after = org_rows(store_target, ids["org"])
        if answer.status_code != 503 or answer.json().get("code") != "store_unavailable":
            wrong.append(f"{at} ({statement[:60]}): {answer.status_code} {answer.text[:120]}")
        if after != before:
            wrong.append(f"{at} ({statement[:60]}): the organisation changed, the write failed")
        retried = write.send(api, owner, ids)
        if not retried.is_success:
            wrong.append(f"{at}: the retry answered {retried.status_code} {retried.text[:120]}")
        owner, ids = _world(api)  # the retry landed: the next statement on a world of its own

    assert not wrong, "\n".join(wrong)
