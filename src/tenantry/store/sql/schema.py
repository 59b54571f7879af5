"""What every table shares: the metadata, column types, and which tables belong to a tenant.

Each table is defined beside its adapter (`store/sql/<feature>.py`); `tables.py` gathers them.
Migrations are written by hand to match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from tenantry.store.cursor import Position

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def after_position(
    moment: sa.Column[datetime], key: sa.Column[str], position: Position
) -> sa.ColumnElement[bool]:
    """The rows an ascending (time, key) list shows after a cursor's `position`."""
    at, after_key = position
    return sa.tuple_(moment, key) > sa.tuple_(sa.literal(at, moment.type), after_key)


Json: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(40)

# Tables whose rows belong to one organisation. PostgreSQL forces row-level security on each;
# the start-up guard refuses to run if one of them lacks it.
TENANT_TABLES = (
    "organisations",
    "memberships",
    "audit_events",
    "audit_chains",
    "roles",
    "role_assignments",
    "teams",
    "team_memberships",
    "invitations",
)
# The row-level security policies each tenant table must have, and no others: an extra
# permissive policy (say `USING (true)`) would widen what every query may see.
TENANT_POLICIES = {
    "organisations": {"tenant_isolation"},
    "memberships": {"tenant_isolation"},
    "audit_events": {"audit_read", "audit_append", "audit_prune"},
    "audit_chains": {"tenant_isolation"},
    "roles": {"tenant_isolation"},
    "role_assignments": {"tenant_isolation"},
    "teams": {"tenant_isolation"},
    "team_memberships": {"tenant_isolation"},
    "invitations": {"tenant_isolation"},
}
