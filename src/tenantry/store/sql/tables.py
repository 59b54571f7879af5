"""Table definitions (SQLAlchemy Core). Migrations are written by hand to match these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

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


Json: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(40)

# Tables whose rows belong to one organisation. PostgreSQL forces row-level security on each;
# the start-up guard refuses to run if one of them lacks it.
TENANT_TABLES = ("organisations", "memberships", "audit_events")
# The row-level security policies each tenant table must have, and no others: an extra
# permissive policy (say `USING (true)`) would widen what every query may see.
TENANT_POLICIES = {
    "organisations": {"tenant_isolation"},
    "memberships": {"tenant_isolation"},
    "audit_events": {"audit_read", "audit_append"},
}

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("email_verified_at", UtcDateTime),
    sa.Column("session_epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reset_epoch", sa.BigInteger, nullable=False, server_default="0"),
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("slug", sa.String(63), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("settings", Json, nullable=False),
    sa.Column("authz_epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("provisioning_step", sa.String(100)),
    sa.Column("provisioning_error", sa.String(1000)),
    sa.Column("deleted_at", UtcDateTime),
    sa.Column("status_changed_at", UtcDateTime),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("org_role", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_memberships_user", "user_id"),
    sa.Index("ix_memberships_org_joined", "org_id", "joined_at", "user_id"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("org_id", Id),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("ip_address", sa.String(64)),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("revoked_reason", sa.String(64)),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("session_id", Id, sa.ForeignKey("sessions.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("parent_id", Id),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

one_time_tokens = sa.Table(
    "one_time_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("event_id", Id, primary_key=True),
    sa.Column("org_id", Id, index=False),
    sa.Column("seq", sa.BigInteger),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("actor_id", Id),
    sa.Column("actor_type", sa.String(20), nullable=False),
    sa.Column("resource_type", sa.String(40)),
    sa.Column("resource_id", sa.String(100)),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("details", Json, nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
    sa.Index("ix_audit_org_time", "org_id", "occurred_at"),
    sa.Index("ix_audit_actor_time", "actor_id", "occurred_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("last_error", sa.String(1000)),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(40), primary_key=True),
    sa.Column("alg", sa.String(10), nullable=False),
    sa.Column("public_jwk", Json, nullable=False),
    sa.Column("private_key_encrypted", sa.Text, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("retired_at", UtcDateTime),
)
