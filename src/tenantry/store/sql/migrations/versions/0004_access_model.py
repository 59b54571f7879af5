"""the access model: custom roles and their assignments, teams and team memberships

Role and team names are unique in their organisation ignoring case (an index on
`lower(name)`). PostgreSQL only: row-level security ENABLED and FORCED on the four tables,
each with one `tenant_isolation` policy on `app.org_id`; and `tenantry_org_id_for_slug`, the
one way to learn an organisation's id from its slug before any organisation is bound.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("roles", "role_assignments", "teams", "team_memberships")


def upgrade() -> None:
    _create_roles()
    _create_role_assignments()
    _create_teams()
    _create_team_memberships()
    if op.get_bind().dialect.name == "postgresql":
        _enable_row_level_security()
        _create_slug_lookup()


def _create_roles() -> None:
    op.create_table(
        "roles",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "permissions",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("org_id", "id"),
    )
    op.create_index("uq_roles_org_name", "roles", ["org_id", sa.text("lower(name)")], unique=True)


def _create_role_assignments() -> None:
    op.create_table(
        "role_assignments",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role_id", sa.String(length=40), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("org_id", "user_id", "role_id"),
    )
    op.create_index(
        "ix_role_assignments_role",
        "role_assignments",
        ["org_id", "role_id", "assigned_at", "user_id"],
    )


def _create_teams() -> None:
    op.create_table(
        "teams",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("org_id", "id"),
    )
    op.create_index("ix_teams_org_created", "teams", ["org_id", "created_at", "id"])
    op.create_index("uq_teams_org_name", "teams", ["org_id", sa.text("lower(name)")], unique=True)


def _create_team_memberships() -> None:
    op.create_table(
        "team_memberships",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("team_role", sa.String(length=40), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("org_id", "team_id", "user_id"),
    )
    op.create_index(
        "ix_team_memberships_joined",
        "team_memberships",
        ["org_id", "team_id", "joined_at", "user_id"],
    )
    op.create_index("ix_team_memberships_user", "team_memberships", ["org_id", "user_id"])
    op.create_index("ix_team_memberships_role", "team_memberships", ["org_id", "team_role"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _drop_slug_lookup()
    # Dropping a table drops its indexes and its policies with it.
    for table in reversed(_TABLES):
        op.drop_table(table)


# As in 0001: `app.org_id` lasts one transaction; unset, no row matches.
_ORG = "current_setting('app.org_id', true)"


def _enable_row_level_security() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table}"
            f" USING (org_id = {_ORG}) WITH CHECK (org_id = {_ORG})"
        )


# The slug lookup. FORCE binds the owner too, so a SECURITY DEFINER function alone would see
# no organisation: the organisations policy also lets through code that runs with the
# owner's rights on behalf of another session user (`current_user <> session_user`), which,
# since the runtime role may not become the owner (the start-up guard checks it), is only
# the owner's SECURITY DEFINER functions. The owner connecting as itself stays bound.
_USER = "current_setting('app.user_id', true)"
_MEMBER_OF_ORG = (
    f"id = {_ORG} OR id IN ("
    f"SELECT org_id FROM memberships WHERE user_id = {_USER} AND status = 'ACTIVE')"
)
_OWNER_ON_BEHALF = (
    "current_user <> session_user AND pg_has_role(current_user, "
    "(SELECT relowner FROM pg_class WHERE oid = 'organisations'::regclass), 'MEMBER')"
)
SLUG_LOOKUP = "tenantry_org_id_for_slug(text)"


def _create_slug_lookup() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    quoted = op.get_bind().dialect.identifier_preparer.quote(schema)
    op.execute(
        f"ALTER POLICY tenant_isolation ON organisations"
        f" USING ({_MEMBER_OF_ORG} OR ({_OWNER_ON_BEHALF}))"
    )
    # STABLE, the search path pinned (pg_temp last, so no temporary table can stand in), the
    # table named with its schema, and only the id leaves.
    op.execute(
        f"""CREATE FUNCTION {quoted}.tenantry_org_id_for_slug(wanted text) RETURNS text
            LANGUAGE sql STABLE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
            AS $$ SELECT id FROM {quoted}.organisations WHERE slug = wanted $$"""
    )
    # Functions are executable by PUBLIC by default; `migrate` grants it to the runtime role.
    op.execute(f"REVOKE ALL ON FUNCTION {quoted}.{SLUG_LOOKUP} FROM PUBLIC")


def _drop_slug_lookup() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SLUG_LOOKUP}")
    op.execute(f"ALTER POLICY tenant_isolation ON organisations USING ({_MEMBER_OF_ORG})")
