"""PostgreSQL row-level security, tried as the runtime role with raw SQL: no way around it.

Two organisations are registered through tenantry's services, and each is given a role, an
assignment, a team and a team member through the store, so every tenant table holds rows of
both; then the runtime role (the one the service connects as) reads and writes with
hand-written SQL, as an attacker with a SQL injection would. The drift guard is proven by
weakening a table as its owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tenantry.accounts.service import create_user
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.ids import new_id
from tenantry.domain.invitations import Invitation, InvitationStatus, new_invitation_token
from tenantry.domain.model import Organisation, User
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole, Role, RoleAssignment, RoleScope, TeamRole
from tenantry.domain.teams import Team, TeamMembership
from tenantry.edge import run_use_case
from tenantry.organisations.service import register_organisation
from tenantry.store.sql.store import SqlStore, UnsafeDatabase
from tenantry.store.sql.tables import TENANT_TABLES
from tenantry.unit_of_work import UnitOfWork
from tests.harness import (
    PASSWORD,
    StoreTarget,
    TestClock,
    connected,
    postgres_target,
    privileged,
    sql_store,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.postgres_server import PgUrls

pytestmark = pytest.mark.postgres

BIND_ORG = sa.text("SELECT set_config('app.org_id', :org_id, true)")


@dataclass(frozen=True)
class Tenants:
    a: Organisation
    b: Organisation
    owner_a: User
    owner_b: User


@pytest.fixture(scope="module")
def target(migrated_postgres: PgUrls) -> StoreTarget:
    return postgres_target(migrated_postgres)


@pytest.fixture(scope="module")
def tenantry(target: StoreTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenantry]:
    app = bootstrap(test_settings(target, tmp_path_factory.mktemp("rls")), clock=TestClock())
    prepare_to_serve(app)
    yield app
    app.close()


def register_with_owner(tenantry: Tenantry, name: str) -> tuple[Organisation, User]:
    def add_owner(uow: UnitOfWork) -> User:
        return create_user(
            uow,
            tenantry.deps,
            SYSTEM,
            email=unique_email(name.lower()),
            password=PASSWORD,
            name=f"{name} Owner",
            verified=True,
        )

    # Two units of work: a use case never reads its own uncommitted writes.
    owner = run_use_case(tenantry.store.unit_of_work, add_owner, clock=tenantry.clock)
    org = run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: register_organisation(
            uow,
            tenantry.deps,
            SYSTEM,
            owner_id=owner.id,
            name=name,
            slug=unique_slug(name.lower()),
        ),
        clock=tenantry.clock,
    )
    return org, owner


def give_access_rows(tenantry: Tenantry, org: Organisation, owner: User) -> None:
    """A custom role held by the owner, a team the owner leads, an invitation pending."""
    at = tenantry.clock.now()
    _, token_hash = new_invitation_token(org.id)
    invitation = Invitation(
        new_id("inv"),
        org.id,
        unique_email("invited"),
        OrgRole.MEMBER,
        (role_id := new_id("rol"),),
        None,
        None,
        owner.id,
        owner.name,
        token_hash,
        InvitationStatus.PENDING,
        at,
        at + timedelta(days=7),
        at,
    )
    role = Role(role_id, org.id, "RLS probe", ("team:read",), RoleScope.ORGANISATION, at)
    team = Team(new_id("team"), org.id, "RLS probe", at, member_count=1)
    with tenantry.store.unit_of_work(org_id=org.id, user_id=owner.id) as uow:
        uow.roles.add(role)
        uow.role_assignments.add(RoleAssignment(org.id, owner.id, role.id, at, owner.id))
        uow.teams.add(team)
        uow.team_memberships.add(
            TeamMembership(org.id, team.id, owner.id, TeamRole.LEAD.value, at, owner.email)
        )
        uow.invitations.add(invitation)
        uow.commit()


@pytest.fixture(scope="module")
def tenants(tenantry: Tenantry) -> Tenants:
    a, owner_a = register_with_owner(tenantry, "Alpha")
    b, owner_b = register_with_owner(tenantry, "Beta")
    give_access_rows(tenantry, a, owner_a)
    give_access_rows(tenantry, b, owner_b)
    return Tenants(a, b, owner_a, owner_b)


@pytest.fixture
def as_runtime(target: StoreTarget) -> Iterator[sa.Connection]:
    with connected(target.url) as connection:
        yield connection


@pytest.fixture
def as_owner(target: StoreTarget) -> Iterator[sa.Connection]:
    assert target.migration_url is not None
    with connected(target.migration_url) as connection:
        yield connection


def org_ids_in(connection: sa.Connection, table: str) -> set[str]:
    """The organisations whose rows the connection sees. A row of no organisation (the head
    of the audit log's system chain) belongs to no tenant, and is not counted."""
    column = "id" if table == "organisations" else "org_id"
    return set(connection.scalars(sa.text(f"SELECT {column} FROM {table}"))) - {None}


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_with_no_organisation_bound_the_runtime_role_sees_no_rows(
    table: str, tenants: Tenants, target: StoreTarget, as_runtime: sa.Connection
) -> None:
    with connected(target.privileged_url) as superuser:
        assert {tenants.a.id, tenants.b.id} <= org_ids_in(superuser, table)

    assert org_ids_in(as_runtime, table) == set()


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_bound_to_one_organisation_the_runtime_role_sees_only_its_rows(
    table: str, tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})

    assert org_ids_in(as_runtime, table) == {tenants.a.id}


def test_the_binding_ends_with_the_transaction(tenants: Tenants, as_runtime: sa.Connection) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})
    as_runtime.commit()

    assert as_runtime.scalar(sa.text("SELECT count(*) FROM organisations")) == 0


def test_one_pooled_connection_serving_two_tenants_in_turn_shows_each_only_its_own(
    tenants: Tenants, target: StoreTarget
) -> None:
    """tenantry's own store on a pool of one connection: its units of work for A, for B and
    for no organisation (a request that forgot to bind one) take turns on the same backend,
    and each sees what it is bound to, and nothing is left of the last one's binding."""
    engine = sa.create_engine(target.url, pool_size=1, max_overflow=0)
    connects: list[object] = []
    sa.event.listen(engine, "connect", lambda dbapi, record: connects.append(dbapi))
    store = SqlStore(target.url, engine=engine)
    try:
        for turn in range(12):
            org, other = (tenants.a, tenants.b) if turn % 2 == 0 else (tenants.b, tenants.a)
            bound = org if turn % 3 else None  # every third turn binds no organisation
            with store.unit_of_work(org_id=bound.id if bound else None) as uow:
                assert uow.organisations.get(other.id) is None
                assert uow.memberships.list_members(other.id, limit=10, cursor=None).items == []
                mine = uow.organisations.get(org.id)
                assert (mine is not None) == (bound is not None), (turn, bound)
    finally:
        store.dispose()
    assert len(connects) == 1  # one backend served every turn


# --- writing ---------------------------------------------------------------------------------


def assert_policy_refuses(connection: sa.Connection, statement: str, **params: str) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match="violates row-level security policy"):
        connection.execute(sa.text(statement), params)


def test_bound_to_a_the_runtime_role_cannot_add_a_membership_to_b(
    tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})

    assert_policy_refuses(
        as_runtime,
        "INSERT INTO memberships (org_id, user_id, org_role, status, joined_at)"
        " VALUES (:org_id, :user_id, 'OWNER', 'ACTIVE', now())",
        org_id=tenants.b.id,
        user_id=tenants.owner_a.id,
    )


def test_bound_to_a_the_runtime_role_cannot_write_audit_events_for_b(
    tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})

    assert_policy_refuses(
        as_runtime,
        "INSERT INTO audit_events (event_id, org_id, occurred_at, event_type, action,"
        " actor_type, outcome, details)"
        " VALUES ('evt_forged', :org_id, now(), 'ORGANISATION', 'organisation.update',"
        " 'USER', 'SUCCESS', '{}')",
        org_id=tenants.b.id,
    )


def test_bound_to_a_the_runtime_role_cannot_change_or_end_bs_memberships(
    tenants: Tenants, as_runtime: sa.Connection, target: StoreTarget
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})
    by_org = {"org_id": tenants.b.id}

    promoted = as_runtime.execute(
        sa.text("UPDATE memberships SET org_role = 'MEMBER' WHERE org_id = :org_id"), by_org
    )
    removed = as_runtime.execute(sa.text("DELETE FROM memberships WHERE org_id = :org_id"), by_org)
    as_runtime.commit()

    assert (promoted.rowcount, removed.rowcount) == (0, 0)
    with connected(target.privileged_url) as superuser:
        roles = superuser.scalars(
            sa.text("SELECT org_role FROM memberships WHERE org_id = :org_id"), by_org
        )
        assert list(roles) == ["OWNER"]


# One forged row for each access-model table, for organisation :org_id.
FORGED_ACCESS_ROWS = {
    "roles": "INSERT INTO roles (org_id, id, name, permissions, scope, created_at)"
    " VALUES (:org_id, 'rol_forged', 'Forged', '[\"*:*\"]', 'ORGANISATION', now())",
    "role_assignments": "INSERT INTO role_assignments"
    " (org_id, user_id, role_id, assigned_at, assigned_by)"
    " VALUES (:org_id, :user_id, 'rol_forged', now(), :user_id)",
    "teams": "INSERT INTO teams (org_id, id, name, created_at)"
    " VALUES (:org_id, 'team_forged', 'Forged', now())",
    "team_memberships": "INSERT INTO team_memberships (org_id, team_id, user_id, team_role,"
    " joined_at) VALUES (:org_id, 'team_forged', :user_id, 'LEAD', now())",
    "invitations": "INSERT INTO invitations (org_id, id, email, org_role, role_ids, invited_by,"
    " inviter_name, token_hash, status, created_at, expires_at, last_sent_at, resend_count)"
    " VALUES (:org_id, 'inv_forged', 'forged@example.com', 'OWNER', '[]', :user_id, 'Forged',"
    " 'forged', 'PENDING', now(), now() + interval '7 days', now(), 0)",
}


@pytest.mark.parametrize("table", FORGED_ACCESS_ROWS)
def test_bound_to_a_the_runtime_role_cannot_add_access_rows_to_b(
    table: str, tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})

    assert_policy_refuses(
        as_runtime, FORGED_ACCESS_ROWS[table], org_id=tenants.b.id, user_id=tenants.owner_a.id
    )


@pytest.mark.parametrize("table", FORGED_ACCESS_ROWS)
def test_bound_to_a_the_runtime_role_cannot_change_or_delete_bs_access_rows(
    table: str, tenants: Tenants, as_runtime: sa.Connection, target: StoreTarget
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})
    by_org = {"org_id": tenants.b.id}
    count = sa.text(f"SELECT count(*) FROM {table} WHERE org_id = :org_id")
    with privileged(target) as superuser:
        before = superuser.scalar(count, by_org)

    moved = as_runtime.execute(
        sa.text(f"UPDATE {table} SET org_id = :to WHERE org_id = :org_id"),
        {**by_org, "to": tenants.a.id},
    )
    removed = as_runtime.execute(sa.text(f"DELETE FROM {table} WHERE org_id = :org_id"), by_org)
    as_runtime.commit()

    assert (moved.rowcount, removed.rowcount) == (0, 0)
    with privileged(target) as superuser:
        assert superuser.scalar(count, by_org) == before >= 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'rewritten'",
        "TRUNCATE audit_events",
    ],
)
def test_the_audit_log_is_append_only_for_the_runtime_role(
    statement: str, tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(BIND_ORG, {"org_id": tenants.a.id})

    with pytest.raises(sa.exc.ProgrammingError, match="permission denied for table audit_events"):
        as_runtime.execute(sa.text(statement))


def test_the_runtime_role_deletes_no_event_the_archive_does_not_hold(
    tenants: Tenants, target: StoreTarget, as_runtime: sa.Connection
) -> None:
    count = sa.text("SELECT count(*) FROM audit_events WHERE org_id = :org_id")
    by_org = {"org_id": tenants.a.id}
    with privileged(target) as superuser:
        before = superuser.scalar(count, by_org)
    as_runtime.execute(BIND_ORG, by_org)

    removed = as_runtime.execute(sa.text("DELETE FROM audit_events"))
    as_runtime.commit()

    assert removed.rowcount == 0  # only pruning deletes, and only what is archived
    with privileged(target) as superuser:
        assert superuser.scalar(count, by_org) == before >= 1


# --- no way around the policies ----------------------------------------------------------------


def test_the_runtime_role_cannot_switch_row_security_off(
    tenants: Tenants, as_runtime: sa.Connection
) -> None:
    as_runtime.execute(sa.text("SET row_security = off"))

    with pytest.raises(
        sa.exc.ProgrammingError, match="query would be affected by row-level security policy"
    ):
        as_runtime.execute(sa.text("SELECT * FROM organisations"))


def test_the_runtime_role_is_no_superuser_has_no_bypassrls_and_owns_no_tenant_table(
    as_runtime: sa.Connection,
) -> None:
    powers = as_runtime.execute(
        sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    owners = as_runtime.execute(
        sa.text(
            "SELECT tablename, tableowner = current_user FROM pg_tables"
            " WHERE schemaname = current_schema() AND tablename = ANY(:tables)"
        ),
        {"tables": list(TENANT_TABLES)},
    ).all()

    assert tuple(powers) == (False, False)
    assert sorted(owners) == sorted((table, False) for table in TENANT_TABLES)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE organisations NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE memberships DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON memberships",
        "CREATE POLICY let_me_in ON organisations USING (true)",
    ],
)
def test_the_runtime_role_cannot_loosen_the_policies(
    statement: str, as_runtime: sa.Connection
) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match="must be owner of"):
        as_runtime.execute(sa.text(statement))


# --- the start-up guard ----------------------------------------------------------------------


@contextmanager
def rls_not_forced_on(table: str, as_owner: sa.Connection) -> Iterator[None]:
    as_owner.execute(sa.text(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
    as_owner.commit()
    try:
        yield
    finally:
        as_owner.execute(sa.text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
        as_owner.commit()


@contextmanager
def member_of(role: str, runtime_role: str, *, admin_url: str) -> Iterator[None]:
    with connected(admin_url) as admin:
        admin.execute(sa.text(f'GRANT "{role}" TO "{runtime_role}"'))
        admin.commit()
        try:
            yield
        finally:
            admin.execute(sa.text(f'REVOKE "{role}" FROM "{runtime_role}"'))
            admin.commit()


@contextmanager
def bypassrls_role(name: str, *, admin_url: str) -> Iterator[str]:
    with connected(admin_url) as admin:
        admin.execute(sa.text(f'CREATE ROLE "{name}" NOLOGIN BYPASSRLS'))
        admin.commit()
        try:
            yield name
        finally:
            admin.execute(sa.text(f'DROP ROLE "{name}"'))
            admin.commit()


def test_the_guard_accepts_the_migrated_database_as_the_runtime_role(target: StoreTarget) -> None:
    with sql_store(target.url) as store:
        store.check_tenant_isolation()


def test_the_guard_refuses_when_a_tenant_table_lost_forced_rls(
    target: StoreTarget, as_owner: sa.Connection, tmp_path: Path
) -> None:
    with sql_store(target.url) as store, rls_not_forced_on("memberships", as_owner):
        with pytest.raises(UnsafeDatabase, match="memberships lacks forced row-level security"):
            store.check_tenant_isolation()
        with pytest.raises(UnsafeDatabase, match="memberships"):
            prepare_to_serve(bootstrap(test_settings(target, tmp_path), clock=TestClock()))


def test_the_guard_refuses_an_extra_policy_that_widens_a_tenant_table(
    target: StoreTarget, as_owner: sa.Connection
) -> None:
    as_owner.execute(sa.text("CREATE POLICY wide_open ON memberships USING (true)"))
    as_owner.commit()
    try:
        with sql_store(target.url) as store, pytest.raises(UnsafeDatabase, match="wide_open"):
            store.check_tenant_isolation()
    finally:
        as_owner.execute(sa.text("DROP POLICY wide_open ON memberships"))
        as_owner.commit()


def test_the_guard_refuses_to_run_as_the_role_that_owns_the_tables(target: StoreTarget) -> None:
    assert target.migration_url is not None
    with sql_store(target.migration_url) as store, pytest.raises(UnsafeDatabase, match="owns"):
        store.check_tenant_isolation()


def test_the_guard_refuses_to_run_as_a_superuser(target: StoreTarget) -> None:
    with (
        sql_store(target.privileged_url) as store,
        pytest.raises(UnsafeDatabase, match="superuser"),
    ):
        store.check_tenant_isolation()


def test_the_guard_refuses_a_runtime_role_that_is_a_member_of_the_owner(
    target: StoreTarget, migrated_postgres: PgUrls
) -> None:
    """A member of the owner may ALTER the tables (or SET ROLE to the owner) and drop FORCE."""
    owner_role = make_url(migrated_postgres.owner_url).username
    assert owner_role is not None
    with (
        sql_store(target.url) as store,
        member_of(owner_role, migrated_postgres.runtime_role, admin_url=target.privileged_url),
        pytest.raises(UnsafeDatabase, match="owns organisations"),
    ):
        store.check_tenant_isolation()


def test_the_guard_refuses_a_runtime_role_that_may_become_a_bypassrls_role(
    target: StoreTarget, migrated_postgres: PgUrls
) -> None:
    admin_url = target.privileged_url
    with (
        sql_store(target.url) as store,
        bypassrls_role(f"{migrated_postgres.database}_bypasser", admin_url=admin_url) as role,
        member_of(role, migrated_postgres.runtime_role, admin_url=admin_url),
        pytest.raises(UnsafeDatabase, match="BYPASSRLS"),
    ):
        store.check_tenant_isolation()
