"""The SQL store as the rest of tenantry sees it: a unit-of-work factory plus checks."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tenantry.authorizer.feed import LiveSessions
from tenantry.domain.errors import Unavailable
from tenantry.store.sql.engine import create_store_engine
from tenantry.store.sql.listen import PostgresChangeListener
from tenantry.store.sql.schema import TENANT_POLICIES, TENANT_TABLES
from tenantry.store.sql.unit_of_work import SqlUnitOfWork

_RLS_STATE = sa.text(
    """
    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
           pg_has_role(current_user, c.relowner, 'MEMBER') AS owned
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(:tables)
    """
)
# A member of a role may SET ROLE to it (and may inherit its ownership), so the powers and
# ownership of every role the runtime role belongs to count as its own.
_POLICIES = sa.text(
    "SELECT tablename, policyname FROM pg_policies "
    "WHERE schemaname = current_schema() AND tablename = ANY(:tables)"
)
_ROLE_POWERS = sa.text(
    """
    SELECT coalesce(bool_or(rolsuper), false) AS rolsuper,
           coalesce(bool_or(rolbypassrls), false) AS rolbypassrls
    FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')
    """
)


class UnsafeDatabase(RuntimeError):
    """The database would not isolate tenants; the service refuses to start."""


class SqlStore:
    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or create_store_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
    ) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, org_id=org_id, user_id=user_id, request_id=request_id)

    def check_tenant_isolation(self) -> None:
        """Refuse to serve PostgreSQL unless every tenant table has forced RLS that binds us."""
        if self.dialect != "postgresql":
            return
        with self.engine.connect() as connection:
            powers = connection.execute(_ROLE_POWERS).one()
            if powers.rolsuper or powers.rolbypassrls:
                raise UnsafeDatabase(
                    "the runtime role is superuser or has BYPASSRLS (itself or through a role)"
                )
            tables = {"tables": list(TENANT_TABLES)}
            rows = {r.relname: r for r in connection.execute(_RLS_STATE, tables)}
            policies: dict[str, set[str]] = {}
            for table, policy in connection.execute(_POLICIES, tables):
                policies.setdefault(table, set()).add(policy)
        problems = [_table_problem(table, rows.get(table)) for table in TENANT_TABLES]
        problems += [_policy_problem(table, policies.get(table, set())) for table in TENANT_TABLES]
        found = [p for p in problems if p]
        if found:
            raise UnsafeDatabase("; ".join(found))

    def ping(self) -> None:
        """Raise `Unavailable` unless the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as error:
            raise Unavailable("the store is not reachable", code="store_unavailable") from error

    def listen_for_changes(self, sink: LiveSessions) -> PostgresChangeListener | None:
        """PostgreSQL: a `LISTEN` thread (`listen.py`). SQLite: none; the session is read on
        every check, which on a local file costs little."""
        if self.dialect != "postgresql":
            return None
        listener = PostgresChangeListener(self.url, sink)
        listener.start()
        return listener

    def dispose(self) -> None:
        self.engine.dispose()


def _policy_problem(table: str, present: set[str]) -> str | None:
    expected = TENANT_POLICIES[table]
    if present == expected:
        return None
    unexpected, missing = sorted(present - expected), sorted(expected - present)
    return f"table {table} has unexpected policies {unexpected} / lacks {missing}"


def _table_problem(table: str, row: sa.Row[tuple[object, ...]] | None) -> str | None:
    if row is None:
        return f"table {table} is missing (run `tenantry migrate`)"
    if not (row.relrowsecurity and row.relforcerowsecurity):
        return f"table {table} lacks forced row-level security"
    if row.owned:
        return f"the runtime role owns {table} (or is a member of its owner); use a separate role"
    return None
