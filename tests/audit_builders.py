"""What the audit log's suites share: an organisation with a history made by tenantry's own
use cases over HTTP, the log read back through the API (pages, export) and the CLI, and
drafts appended through the audit port for the cases that need many events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from tenantry.audit.ports import AuditQuery
from tenantry.cli import app as cli_app
from tenantry.domain.audit import AuditDraft, AuditEvent
from tenantry.domain.audit_chain import event_from_fields
from tenantry.settings import Settings
from tenantry.store.open import Store
from tests import access_builders as access
from tests.harness import Account, Api, TestClock, bearer
from tests.org_builders import patch_org

PHASE = timedelta(minutes=2)  # shorter than an access token lives


def log_path(org_id: str, *rest: str) -> str:
    return "/".join([f"/v1/organisations/{org_id}/audit-events", *rest])


def list_log(api: Api, account: Account, org_id: str | None = None, **params: Any) -> Any:
    """`GET .../audit-events` in `org_id` (the account's own organisation by default)."""
    org = org_id or account.org_id
    assert org is not None
    return api.client.get(log_path(org), params=params, headers=account.auth)


def listed(api: Api, account: Account, **params: Any) -> list[dict[str, Any]]:
    """The one page a listing must answer with."""
    response = list_log(api, account, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def pages(api: Api, account: Account, *, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following `next_cursor` to the end."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = list_log(api, account, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def everything(api: Api, account: Account, **params: Any) -> list[dict[str, Any]]:
    """The whole listing (filtered by `params`), newest first, across pages."""
    return [item for page in pages(api, account, limit=200, **params) for item in page]


def export(api: Api, account: Account, fmt: str, **params: Any) -> Any:
    assert account.org_id is not None
    return api.client.get(
        log_path(account.org_id, "export"), params={"format": fmt, **params}, headers=account.auth
    )


def exported_lines(api: Api, account: Account, **params: Any) -> list[dict[str, Any]]:
    """An export as JSON Lines, each line parsed."""
    response = export(api, account, "jsonl", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def event_of(item: dict[str, Any]) -> AuditEvent:
    """An event as the API shows it, read back into the domain's shape (for `hash_of`)."""
    return event_from_fields(item)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(action, outcome, event type) of each item, in the order given."""
    return [(item["action"], item["outcome"], item["event_type"]) for item in items]


# --- an organisation with a history ----------------------------------------------------------


@dataclass
class History:
    """An organisation whose log tenantry's own use cases wrote, in three phases two minutes
    apart: `started[n]` is when phase n began (the test clock stands still within one)."""

    org_id: str
    owner: Account
    member: Account
    role_id: str
    team_id: str
    started: list[datetime]


# What each phase of `org_with_history` leaves in the organisation's log, oldest first:
# (action, outcome, event type). Nothing of an organisation is an INVITATION yet.
PHASES: list[list[tuple[str, str, str]]] = [
    [
        ("organisation.create", "SUCCESS", "ORGANISATION"),
        ("organisation.provisioned", "SUCCESS", "ORGANISATION"),
        ("auth.refresh", "SUCCESS", "AUTHENTICATION"),  # the owner switches to it
    ],
    [
        ("auth.refresh", "SUCCESS", "AUTHENTICATION"),  # the member switches to it
        ("role.create", "SUCCESS", "ROLE_CHANGE"),
        ("role.update", "SUCCESS", "PERMISSION_CHANGE"),
        ("role.assign", "SUCCESS", "ROLE_CHANGE"),
        ("team.create", "SUCCESS", "CONFIGURATION"),
        ("team.member_add", "SUCCESS", "TEAM_MEMBERSHIP"),
        ("team.update", "SUCCESS", "CONFIGURATION"),
        ("member.role_change", "SUCCESS", "USER_MANAGEMENT"),
        ("member.role_change", "SUCCESS", "USER_MANAGEMENT"),
        ("organisation.update", "SUCCESS", "ORGANISATION"),
    ],
    [
        ("role:create", "DENIED", "AUTHORIZATION"),
        ("role.create", "FAILURE", "ROLE_CHANGE"),
        ("team.create", "FAILURE", "CONFIGURATION"),
        ("auth.token", "FAILURE", "AUTHENTICATION"),
        ("auth.login", "SUCCESS", "AUTHENTICATION"),
    ],
]
HISTORY = [entry for phase in PHASES for entry in phase]


def newest_first(entries: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return list(reversed(entries))


def org_with_history(api: Api, clock: TestClock) -> History:
    """Phase 0: the owner signs up and registers the organisation. Phase 1: a member joins
    (through the store: invitations do not exist yet) and switches to it; the owner makes a
    role, changes its permissions, assigns it, makes a team, adds the member, renames the
    team, promotes and demotes the member and renames the organisation. Phase 2: refusals and
    failures: the member may not make a role (DENIED), the owner asks for a bad permission
    and a blank team name (FAILURE), the member's token outlives its session (FAILURE), the
    owner mistypes a password (FAILURE, outside any organisation: the system chain) and the
    member signs in to the organisation again."""
    started = [clock.now()]
    owner, org = api.owner_with_org()
    clock.advance(PHASE)
    started.append(clock.now())
    member = api.member_of(org["id"])
    role_id, team_id = _access_changes(api, owner, member)
    renamed = patch_org(api, owner, org["id"], {"name": "Acme Renamed"})
    assert renamed.status_code == 200, renamed.text
    clock.advance(PHASE)
    started.append(clock.now())
    _refusals(api, owner, member)
    return History(org["id"], owner, member, role_id, team_id, started)


def _access_changes(api: Api, owner: Account, member: Account) -> tuple[str, str]:
    role_id = access.made_role(api, owner, "Editors", ["site:read"])
    widened = access.patch_role(api, owner, role_id, {"permissions": ["site:read", "site:edit"]})
    assert widened.status_code == 200, widened.text
    assigned = access.assign(api, owner, member.user_id, role_id)
    assert assigned.status_code in (200, 204), assigned.text
    team_id = access.made_team(api, owner, "Platform")
    added = access.add_to_team(api, owner, team_id, member.user_id)
    assert added.status_code in (200, 201), added.text
    renamed = api.client.patch(
        access.org_path(owner, "teams", team_id), json={"name": "Platform Team"}, headers=owner.auth
    )
    assert renamed.status_code in (200, 204), renamed.text
    for org_role in ("ADMIN", "MEMBER"):
        changed = access.set_org_role(api, owner, member.user_id, org_role)
        assert changed.status_code in (200, 204), changed.text
    return role_id, team_id


def _refusals(api: Api, owner: Account, member: Account) -> None:
    refused = access.create_role(api, member, "Mine", ["site:read"])
    assert refused.status_code == 403, refused.text
    bad = access.create_role(api, owner, "Broken", ["not a permission"])
    assert bad.status_code == 422, bad.text
    blank = access.create_team(api, owner, "   ")
    assert blank.status_code == 422, blank.text
    stale = member.access_token
    logged_out = api.client.post("/v1/auth/logout", json={}, headers=member.auth)
    assert logged_out.status_code in (200, 204), logged_out.text
    after = api.client.get(f"/v1/organisations/{member.org_id}", headers=bearer(stale))
    assert after.status_code == 401, after.text
    wrong = api.login(owner.email, "not the password")
    assert wrong.status_code == 401, wrong.text
    again = api.login(member.email, member.password, org_id=member.org_id)  # for later reads
    assert again.status_code == 200, again.text
    member.access_token = again.json()["access_token"]


# --- the CLI on the test's store ---------------------------------------------------------------


def cli_environment(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TENANTRY_* set to the test's settings, so that `tenantry ...` opens the same store
    with the same secret (the signing keys the test's app made decrypt)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)
    assert settings.secret_key is not None
    values = {
        "database_url": settings.database_url,
        "secret_key": settings.secret_key.get_secret_value(),
        "secret_key_file": str(settings.secret_key_file),
        "public_url": settings.resolved_public_url(),
        "argon2_memory_kib": str(settings.argon2_memory_kib),
        "argon2_time_cost": str(settings.argon2_time_cost),
        "mailer": "files",
        "mail_dir": str(tmp_path / "mail"),
    }
    if settings.migration_database_url is not None:
        values["migration_database_url"] = settings.migration_database_url
    for name, value in values.items():
        monkeypatch.setenv(f"TENANTRY_{name.upper()}", value)


@contextmanager
def logging_restored() -> Iterator[None]:
    """Every command configures structlog for a terminal; later tests expect the defaults."""
    try:
        yield
    finally:
        structlog.reset_defaults()


def cli_listing(org_id: str, *options: str) -> list[dict[str, Any]]:
    """`tenantry audit list --org ORG OPTIONS --json`: the events it printed."""
    result = CliRunner().invoke(cli_app, ["audit", "list", "--org", org_id, *options, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


# --- many events, through the audit port -------------------------------------------------------


def appended(
    store: Store, org_id: str, drafts: list[tuple[AuditDraft, datetime]], *, per_unit: int = 90
) -> None:
    """`drafts` appended at their times, `per_unit` to a unit of work (bound to the
    organisation: row-level security lets a unit of work write its own organisation's; one
    DynamoDB transaction holds 100 items)."""
    for start in range(0, len(drafts), per_unit):
        with store.unit_of_work(org_id=org_id) as uow:
            for draft, at in drafts[start : start + per_unit]:
                uow.audit.append(draft, at=at)
            uow.commit()


def stored_chain(store: Store, org_id: str) -> list[AuditEvent]:
    """The organisation's whole chain as stored, oldest first, read a thousand at a time."""
    found: list[AuditEvent] = []
    with store.unit_of_work(org_id=org_id) as uow:
        while page := uow.audit.find(
            AuditQuery(org_id=org_id, after_seq=found[-1].seq if found else None, limit=1000)
        ):
            found.extend(page)
    return found
