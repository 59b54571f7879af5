"""the change feed: PostgreSQL notifies `tenantry_changes` when a session or a user's
session epoch changes

Payloads are `s:<session id>` and `u:<user id>`; `tenantry.store.sql.listen` reads them and
the authorizer forgets what it remembered of that session or user. A trigger sends them,
so every writer (tenantry, an operator's SQL) is heard, and only once its transaction
commits. A refresh, which only moves `last_used_at`, notifies nothing. SQLite has no feed.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = """
CREATE FUNCTION tenantry_notify_session_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantry_changes', 's:' || OLD.id);
    RETURN NULL;
END $$;

CREATE FUNCTION tenantry_notify_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantry_changes', 'u:' || OLD.id);
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER tenantry_session_changed
AFTER UPDATE ON sessions FOR EACH ROW
WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
      OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
      OR OLD.epoch IS DISTINCT FROM NEW.epoch
      OR OLD.org_id IS DISTINCT FROM NEW.org_id
      OR OLD.user_id IS DISTINCT FROM NEW.user_id)
EXECUTE FUNCTION tenantry_notify_session_change();

CREATE TRIGGER tenantry_session_deleted
AFTER DELETE ON sessions FOR EACH ROW
EXECUTE FUNCTION tenantry_notify_session_change();

CREATE TRIGGER tenantry_user_changed
AFTER UPDATE ON users FOR EACH ROW
WHEN (OLD.session_epoch IS DISTINCT FROM NEW.session_epoch)
EXECUTE FUNCTION tenantry_notify_user_change();

CREATE TRIGGER tenantry_user_deleted
AFTER DELETE ON users FOR EACH ROW
EXECUTE FUNCTION tenantry_notify_user_change();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, table in (
        ("tenantry_session_changed", "sessions"),
        ("tenantry_session_deleted", "sessions"),
        ("tenantry_user_changed", "users"),
        ("tenantry_user_deleted", "users"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS tenantry_notify_session_change()")
    op.execute("DROP FUNCTION IF EXISTS tenantry_notify_user_change()")
