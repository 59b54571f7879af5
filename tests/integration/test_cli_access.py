"""`tenantry role|team|member ...`: the operator manages an organisation's access model.

Each command builds its own tenantry from the environment, as a fresh process would, on
SQLite and on PostgreSQL as the runtime role that row-level security binds. The tests look at
what it left in the store and the audit trail, and at what it printed: with `--json` one JSON
document on stdout; a refusal's code on stderr, exit status 1, nothing on stdout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tenantry.domain.audit import ActorType, AuditEvent, Outcome
from tenantry.domain.ids import new_id
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole, RoleScope, TeamRole
from tenantry.organisations.service import delete_organisation
from tenantry.runner import Runner
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_org, make_user
from tests.harness import (
    StoreTarget,
    audit_events,
    connected,
    postgres_target,
    sql_store,
    unique_email,
    unique_slug,
)
from tests.integration.test_cli import Cli, _found, _logging_restored, environment
from tests.postgres_server import PgUrls

__all__ = ["_logging_restored", "environment"]  # fixtures shared with test_cli

T = TypeVar("T")


@pytest.fixture
def cli(store_target: StoreTarget, environment: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on the test's store; on PostgreSQL it connects as the runtime role."""
    monkeypatch.setenv("TENANTRY_DATABASE_URL", store_target.url)
    if store_target.migration_url is not None:
        monkeypatch.setenv("TENANTRY_MIGRATION_DATABASE_URL", store_target.migration_url)
    return Cli(store_target.url, environment / "mail")


@dataclass(frozen=True)
class Org:
    id: str
    slug: str
    owner_id: str
    owner_email: str


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str


@pytest.fixture
def org(cli: Cli) -> Org:
    """An organisation the operator registered, with its one OWNER."""
    email, slug = unique_email("owner"), unique_slug("ops")
    owner_id = cli.create_user(email)
    output = cli.ok("org", "create", "--name", "Acme", "--slug", slug, "--owner-email", email)
    return Org(_found(rf"organisation (org_\w+) \({slug}\)", output), slug, owner_id, email)


def stored(target: StoreTarget, org_id: str, query: Callable[[UnitOfWork], T]) -> T:
    """What the store holds now, read as the service reads it: bound to the organisation."""
    with sql_store(target.url) as store, store.unit_of_work(org_id=org_id) as uow:
        return query(uow)


def epoch_of(target: StoreTarget, org: Org) -> int:
    found = stored(target, org.id, lambda uow: uow.organisations.get(org.id))
    assert found is not None
    return found.authz_epoch


def membership_of(target: StoreTarget, org: Org, user_id: str) -> Membership:
    found = stored(target, org.id, lambda uow: uow.memberships.get(org.id, user_id))
    assert found is not None
    return found


def given_members(target: StoreTarget, org: Org, count: int = 1) -> list[Member]:
    """Users made members through the store (invitations are not the CLI's business)."""
    users = [make_user(email=unique_email("member")) for _ in range(count)]
    with sql_store(target.url) as store, store.unit_of_work(org_id=org.id) as uow:
        for user in users:
            uow.users.add(user)
            uow.memberships.add(
                Membership(
                    org.id,
                    user.id,
                    OrgRole.MEMBER,
                    MembershipStatus.ACTIVE,
                    AT,
                    email=user.email,
                    name=user.name,
                )
            )
        uow.commit()
    return [Member(user.id, user.email) for user in users]


def given_member(target: StoreTarget, org: Org) -> Member:
    [member] = given_members(target, org)
    return member


def json_of(cli: Cli, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)  # the whole of stdout is one document


def refused(cli: Cli, *args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    return result


def epoch_printed(output: str) -> int:
    return int(_found(r"; authz epoch (\d+)", output))


def who_on_what(events: list[AuditEvent]) -> list[tuple[ActorType, str | None, str | None]]:
    return [(e.actor_type, e.actor_id, e.resource_id) for e in events]


# --- roles -----------------------------------------------------------------------------------


def test_role_create_by_slug_is_stored_audited_as_system_and_moves_the_epoch(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    before = epoch_of(store_target, org)

    output = cli.ok(
        *("role", "create", "--org", org.slug, "--name", "Site editor"),
        *("--permission", "site:read", "--permission", "site:*", "--description", "Edits"),
    )

    role_id = _found(r"created role (rol_\w+) \(Site editor\)", output)
    assert epoch_printed(output) == before + 1 == epoch_of(store_target, org)
    role = stored(store_target, org.id, lambda uow: uow.roles.get(org.id, role_id))
    assert role is not None
    assert (role.name, role.permissions, role.scope, role.description) == (
        "Site editor",
        ("site:read", "site:*"),
        RoleScope.ORGANISATION,
        "Edits",
    )
    created = audit_events(store_target, org_id=org.id, action="role.create")
    assert who_on_what(created) == [(ActorType.SYSTEM, SYSTEM.user_id, role_id)]
    assert created[0].details["authz_epoch"] == before + 1


def test_role_list_by_id_prints_the_stored_roles_in_the_http_shape(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    made = json_of(
        cli, *f"role create --org {org.id} --name Lead --permission team:* --scope TEAM".split()
    )
    json_of(cli, "role", "create", "--org", org.slug, "--name", "Author", "--permission", "a:b")

    listed = json_of(cli, "role", "list", "--org", org.id)

    roles = stored(store_target, org.id, lambda uow: uow.roles.list(org.id))
    assert [(r["id"], r["name"], r["permissions"], r["scope"]) for r in listed["items"]] == [
        (role.id, role.name, list(role.permissions), role.scope.value) for role in roles
    ]
    shown = next(role for role in listed["items"] if role["id"] == made["id"])
    assert {**shown, "authz_epoch": made["authz_epoch"]} == made
    assert made["scope"] == "TEAM"


def test_role_list_prints_a_table_of_every_role(cli: Cli, org: Org) -> None:
    json_of(cli, "role", "create", "--org", org.id, "--name", "[b]Odd[/b]", "--permission", "x:y")

    output = cli.ok("role", "list", "--org", org.slug)

    assert "[b]Odd[/b]" in output  # a name is shown as given, never read as markup
    assert "x:y" in output


def test_role_assign_by_role_name_and_member_email_and_again_by_ids_changes_nothing(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    member = given_member(store_target, org)
    role = json_of(
        cli, "role", "create", "--org", org.slug, "--name", "Editor", "--permission", "s:e"
    )

    output = cli.ok("role", "assign", "--org", org.slug, "--user", member.email, "--role", "EDITOR")
    again = json_of(
        cli, "role", "assign", "--org", org.id, "--user", member.user_id, "--role", role["id"]
    )

    assert f"{member.user_id} holds role {role['id']} in {org.id}" in output
    held = stored(
        store_target,
        org.id,
        lambda uow: uow.role_assignments.list_for_member(org.id, member.user_id),
    )
    assert [(a.role_id, a.assigned_by) for a in held] == [(role["id"], SYSTEM.user_id)]
    assert (again["user_id"], again["role_id"], again["assigned_by"]) == (
        member.user_id,
        role["id"],
        SYSTEM.user_id,
    )
    assert again["authz_epoch"] == epoch_printed(output) == epoch_of(store_target, org)
    assigned = audit_events(store_target, org_id=org.id, action="role.assign")
    assert who_on_what(assigned) == [(ActorType.SYSTEM, SYSTEM.user_id, member.user_id)]
    assert assigned[0].details["role_id"] == role["id"]


# --- teams -----------------------------------------------------------------------------------


def test_team_create_then_add_member_by_team_name_and_user_id(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    member = given_member(store_target, org)

    team = json_of(cli, "team", "create", "--org", org.slug, "--name", "Web", "--description", "W")
    output = cli.ok(
        *("team", "add-member", "--org", org.id, "--team", "web", "--user", member.user_id),
        *("--team-role", "LEAD"),
    )

    assert (team["name"], team["description"], team["member_count"]) == ("Web", "W", 0)
    assert f"{member.user_id} joined team {team['id']} as LEAD" in output
    assert epoch_printed(output) == team["authz_epoch"] + 1 == epoch_of(store_target, org)
    joined = stored(
        store_target,
        org.id,
        lambda uow: uow.team_memberships.get(org.id, team["id"], member.user_id),
    )
    assert joined is not None
    assert joined.team_role == TeamRole.LEAD.value
    listed = json_of(cli, "team", "list", "--org", org.slug)
    shown = {key: value for key, value in team.items() if key != "authz_epoch"}
    assert listed == {"items": [{**shown, "member_count": 1}], "next_cursor": None}
    stored_team = stored(store_target, org.id, lambda uow: uow.teams.get(org.id, team["id"]))
    assert stored_team is not None
    assert (stored_team.name, stored_team.member_count) == ("Web", 1)
    created = audit_events(store_target, org_id=org.id, action="team.create")
    added = audit_events(store_target, org_id=org.id, action="team.member_add")
    assert who_on_what(created) == [(ActorType.SYSTEM, SYSTEM.user_id, team["id"])]
    assert who_on_what(added) == [(ActorType.SYSTEM, SYSTEM.user_id, team["id"])]
    assert added[0].details["user_id"] == member.user_id


def test_a_team_member_by_email_joins_with_a_team_scoped_role(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    member = given_member(store_target, org)
    team_scoped = f"role create --org {org.id} --name Reviewer --permission site:read --scope TEAM"
    role = json_of(cli, *team_scoped.split())
    team = json_of(cli, "team", "create", "--org", org.id, "--name", "Docs")
    adding = f"team add-member --org {org.slug} --team {team['id']} --user {member.email}"

    joined = json_of(cli, *adding.split(), "--team-role", role["id"])

    assert (joined["user_id"], joined["email"], joined["team_role"]) == (
        member.user_id,
        member.email,
        role["id"],
    )
    assert joined["authz_epoch"] == epoch_of(store_target, org)


# --- members ---------------------------------------------------------------------------------


def test_member_list_reads_every_page(cli: Cli, org: Org, store_target: StoreTarget) -> None:
    others = given_members(store_target, org, count=201)  # a page holds at most 200

    listed = json_of(cli, "member", "list", "--org", org.slug)
    table = cli.ok("member", "list", "--org", org.id)

    # The owner joined first; the others joined at one moment, so they come by user id.
    expected = [org.owner_id, *sorted(m.user_id for m in others)]
    assert [m["user_id"] for m in listed["items"]] == expected
    assert listed["next_cursor"] is None
    assert listed["items"][0] == {
        **listed["items"][0],
        "email": org.owner_email,
        "org_role": "OWNER",
        "status": "ACTIVE",
    }
    # A row a member, however narrow the console folds their cells.
    assert (table.count(" MEMBER "), table.count(" OWNER ")) == (201, 1)


def test_member_set_role_by_email_is_stored_and_audited_with_before_and_after(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    member = given_member(store_target, org)

    output = cli.ok(
        "member", "set-role", "--org", org.slug, "--user", member.email, "--role", "ADMIN"
    )
    back = json_of(
        cli, "member", "set-role", "--org", org.id, "--user", member.user_id, "--role", "MEMBER"
    )

    assert f"{member.user_id} is ADMIN in {org.id}" in output
    assert back["authz_epoch"] == epoch_printed(output) + 1 == epoch_of(store_target, org)
    assert (back["user_id"], back["org_role"], back["status"]) == (
        member.user_id,
        "MEMBER",
        "ACTIVE",
    )
    assert membership_of(store_target, org, member.user_id).org_role is OrgRole.MEMBER
    changes = audit_events(store_target, org_id=org.id, action="member.role_change")
    assert [(e.actor_type, e.details["before"], e.details["after"]) for e in changes] == [
        (ActorType.SYSTEM, {"org_role": "MEMBER"}, {"org_role": "ADMIN"}),
        (ActorType.SYSTEM, {"org_role": "ADMIN"}, {"org_role": "MEMBER"}),
    ]


def test_member_remove_ends_the_membership_its_roles_and_its_teams(
    cli: Cli, org: Org, store_target: StoreTarget
) -> None:
    member = given_member(store_target, org)
    json_of(cli, "role", "create", "--org", org.id, "--name", "Editor", "--permission", "s:e")
    cli.ok("role", "assign", "--org", org.id, "--user", member.email, "--role", "Editor")
    team = json_of(cli, "team", "create", "--org", org.id, "--name", "Web")
    cli.ok("team", "add-member", "--org", org.id, "--team", "Web", "--user", member.email)

    ended = json_of(cli, "member", "remove", "--org", org.slug, "--user", member.email)

    assert (ended["user_id"], ended["status"]) == (member.user_id, "ENDED")
    assert ended["authz_epoch"] == epoch_of(store_target, org)
    assert membership_of(store_target, org, member.user_id).status is MembershipStatus.ENDED
    assignments = stored(
        store_target,
        org.id,
        lambda uow: uow.role_assignments.list_for_member(org.id, member.user_id),
    )
    in_team = stored(
        store_target,
        org.id,
        lambda uow: uow.team_memberships.get(org.id, team["id"], member.user_id),
    )
    web = stored(store_target, org.id, lambda uow: uow.teams.get(org.id, team["id"]))
    assert (assignments, in_team) == ([], None)
    assert web is not None
    assert web.member_count == 0
    removed = audit_events(store_target, org_id=org.id, action="member.remove")
    assert who_on_what(removed) == [(ActorType.SYSTEM, SYSTEM.user_id, member.user_id)]


@pytest.mark.parametrize(
    "command",
    [["member", "set-role", "--role", "ADMIN"], ["member", "remove"]],
    ids=["demote", "remove"],
)
def test_the_last_owner_rule_binds_the_operator_too(
    cli: Cli, org: Org, store_target: StoreTarget, command: list[str]
) -> None:
    before = epoch_of(store_target, org)

    result = refused(cli, *command, "--org", org.slug, "--user", org.owner_email, "--json")

    assert "error last_owner:" in result.stderr
    owner = membership_of(store_target, org, org.owner_id)
    assert (owner.org_role, owner.status) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    assert epoch_of(store_target, org) == before
    denied = audit_events(store_target, org_id=org.id, outcome=Outcome.DENIED)
    assert [(e.actor_type, e.reason, e.resource_id) for e in denied] == [
        (ActorType.SYSTEM, "last_owner", org.owner_id)
    ]


# --- refusals --------------------------------------------------------------------------------

UNKNOWN = [
    ("role list --org no-such-org", "organisation_not_found"),
    ("role list --org {unknown_org}", "organisation_not_found"),
    ("member set-role --org {slug} --user {unknown_email} --role ADMIN", "user_not_found"),
    ("member remove --org {id} --user {unknown_user}", "user_not_found"),
    ("role assign --org {slug} --user {owner} --role Nobody", "role_not_found"),
    ("role assign --org {slug} --user {owner} --role {unknown_role}", "role_not_found"),
    ("team add-member --org {slug} --team Nowhere --user {owner}", "team_not_found"),
    ("team add-member --org {slug} --team {unknown_team} --user {owner}", "team_not_found"),
]


@pytest.mark.parametrize(("command", "code"), UNKNOWN, ids=[c for c, _ in UNKNOWN])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_an_unknown_organisation_user_role_or_team_exits_1_with_its_code_on_stderr(
    cli: Cli, org: Org, store_target: StoreTarget, command: str, code: str, as_json: bool
) -> None:
    before = epoch_of(store_target, org)
    names = {
        "slug": org.slug,
        "id": org.id,
        "owner": org.owner_email,
        "unknown_org": new_id("org"),
        "unknown_email": unique_email("nobody"),
        "unknown_user": new_id("usr"),
        "unknown_role": new_id("rol"),
        "unknown_team": new_id("team"),
    }
    args = command.format(**names).split()

    result = refused(cli, *args, *(["--json"] if as_json else []))

    assert re.search(rf"^error {code}: ", result.stderr, re.MULTILINE), result.stderr
    assert epoch_of(store_target, org) == before


def test_a_deleted_organisation_is_found_by_its_slug_and_answers_not_found(
    cli: Cli, org: Org
) -> None:
    with cli.another_process() as tenantry:
        Runner(tenantry, principal=SYSTEM)(
            lambda uow: delete_organisation(uow, tenantry.deps, SYSTEM, org.id)
        )

    for ref in (org.slug, org.id):
        result = refused(cli, "member", "list", "--org", ref)
        assert "error organisation_not_found:" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["role", "list"],
        ["role", "create", "--org", "acme", "--name", "No permissions"],
        ["role", "create", "--org", "acme", "--name", "N", "--permission", "a:b", "--scope", "X"],
        ["member", "set-role", "--org", "acme", "--user", "a@example.com", "--role", "BOSS"],
    ],
    ids=["no-org", "no-permission", "bad-scope", "bad-org-role"],
)
def test_bad_usage_exits_2_without_a_traceback(cli: Cli, args: list[str]) -> None:
    result = cli(*args)

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output


# --- PostgreSQL: the slug lookup the runtime role is given -----------------------------------


@pytest.mark.postgres
def test_the_slug_lookup_tells_the_runtime_role_an_id_and_nothing_more(
    migrated_postgres: PgUrls,
) -> None:
    target = postgres_target(migrated_postgres)
    org = make_org()
    with sql_store(target.url) as store, store.unit_of_work(org_id=org.id) as uow:
        uow.organisations.add(org)
        uow.commit()
    lookup = sa.text("SELECT tenantry_org_id_for_slug(:slug)")
    count = sa.text("SELECT count(*) FROM organisations WHERE slug = :slug")

    with connected(target.url) as runtime:  # the id, and still no row
        assert runtime.scalar(lookup, {"slug": org.slug}) == org.id
        assert runtime.scalar(count, {"slug": org.slug}) == 0
    with connected(migrated_postgres.owner_url) as owner:  # FORCE binds the owner, as before
        assert owner.scalar(lookup, {"slug": org.slug}) is None
        assert owner.scalar(count, {"slug": org.slug}) == 0
    with connected(target.privileged_url) as admin:
        function = admin.execute(
            sa.text(
                "SELECT prosecdef, provolatile, proconfig, pg_get_userbyid(proowner) AS owner, "
                "proacl::text[] AS acl FROM pg_proc WHERE proname = 'tenantry_org_id_for_slug'"
            )
        ).one()
    assert (function.prosecdef, function.provolatile) == (True, "s")
    assert function.proconfig == ["search_path=pg_catalog, pg_temp"]
    assert function.owner == migrated_postgres.owner_role
    granted = sorted(entry.split("=")[0] for entry in function.acl)
    assert granted == sorted([migrated_postgres.owner_role, migrated_postgres.runtime_role])
