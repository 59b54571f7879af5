"""The PostgreSQL harness gives RLS something to bind: a runtime role with no way around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.harness import connected
from tests.postgres_server import PgUrls, create_tenantry_database, drop_tenantry_database

pytestmark = pytest.mark.postgres

_ROLE_POWERS = sa.text(
    "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
    " WHERE rolname = current_user"
)
_DATABASE_OWNER = sa.text(
    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
)
_SCHEMA_OWNER = sa.text(
    "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
)


@pytest.fixture
def as_runtime(pg_urls: PgUrls) -> Iterator[Connection]:
    with connected(pg_urls.runtime_url) as connection:
        yield connection


@pytest.fixture
def as_owner(pg_urls: PgUrls) -> Iterator[Connection]:
    with connected(pg_urls.owner_url) as connection:
        yield connection


def test_the_runtime_role_has_no_power_to_step_around_rls(
    as_runtime: Connection, pg_urls: PgUrls
) -> None:
    assert as_runtime.scalar(sa.text("SELECT current_user")) == pg_urls.runtime_role
    powers = as_runtime.execute(_ROLE_POWERS).one()
    assert powers == (False, False, False, False)  # superuser, bypassrls, createrole, createdb
    assert as_runtime.scalar(_DATABASE_OWNER) != pg_urls.runtime_role
    assert as_runtime.scalar(_SCHEMA_OWNER) != pg_urls.runtime_role


def test_the_owner_role_owns_the_database_and_schema_but_is_no_superuser(
    as_owner: Connection, pg_urls: PgUrls
) -> None:
    assert as_owner.scalar(sa.text("SELECT current_user")) == pg_urls.owner_role
    assert as_owner.scalar(_DATABASE_OWNER) == pg_urls.owner_role
    assert as_owner.scalar(_SCHEMA_OWNER) == pg_urls.owner_role
    powers = as_owner.execute(_ROLE_POWERS).one()
    assert powers == (False, False, False, False)


def test_the_owner_role_can_create_a_table_in_public(as_owner: Connection) -> None:
    as_owner.execute(sa.text("CREATE TABLE public.harness_probe (id int PRIMARY KEY)"))
    as_owner.execute(sa.text("INSERT INTO public.harness_probe VALUES (1)"))
    assert as_owner.scalar(sa.text("SELECT count(*) FROM public.harness_probe")) == 1
    as_owner.rollback()


def test_the_runtime_role_cannot_create_a_table_in_public(as_runtime: Connection) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied for schema public"):
        as_runtime.execute(sa.text("CREATE TABLE public.harness_probe (id int PRIMARY KEY)"))


def test_the_runtime_role_cannot_create_a_schema(as_runtime: Connection) -> None:
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied for database"):
        as_runtime.execute(sa.text("CREATE SCHEMA harness_probe"))


def test_the_admin_url_is_a_superuser(pg_urls: PgUrls) -> None:
    with connected(pg_urls.admin_url) as connection:
        assert connection.scalar(
            sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )


def test_each_database_gets_its_own_roles_and_dropping_removes_them_all(
    postgres_admin_url: str, pg_urls: PgUrls
) -> None:
    other = create_tenantry_database(postgres_admin_url)
    assert {other.database, other.runtime_role}.isdisjoint({pg_urls.database, pg_urls.runtime_role})
    with connected(other.runtime_url) as connection:
        assert connection.scalar(sa.text("SELECT current_database()")) == other.database

    drop_tenantry_database(postgres_admin_url, other)

    with connected(postgres_admin_url) as connection:
        leftovers = sa.text(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = :db)"
            " + (SELECT count(*) FROM pg_roles WHERE rolname LIKE :db || '%')"
        )
        assert connection.scalar(leftovers, {"db": other.database}) == 0
