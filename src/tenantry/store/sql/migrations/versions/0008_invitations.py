"""invitations: an address invited into an organisation, with the role, custom roles and team
it gets on acceptance; only the token's hash is stored

One PENDING invitation an address and organisation (a partial unique index). PostgreSQL:
a tenant table, row-level security ENABLED and FORCED, visible only with `app.org_id` bound
(a token names its organisation, so an accept binds it before the lookup).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORG = "current_setting('app.org_id', true)"
_PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("org_role", sa.String(length=20), nullable=False),
        sa.Column("role_ids", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("team_id", sa.String(length=40)),
        sa.Column("team_role", sa.String(length=40)),
        sa.Column("invited_by", sa.String(length=40), nullable=False),
        sa.Column("inviter_name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resend_count", sa.Integer(), nullable=False),
        sa.Column("accepted_by", sa.String(length=40)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("org_id", "id"),
    )
    op.create_index("ux_invitations_token", "invitations", ["org_id", "token_hash"], unique=True)
    op.create_index("ix_invitations_created", "invitations", ["org_id", "created_at", "id"])
    op.create_index(
        "ux_invitations_pending",
        "invitations",
        ["org_id", "email"],
        unique=True,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE invitations ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE invitations FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON invitations"
            f" USING (org_id = {_ORG}) WITH CHECK (org_id = {_ORG})"
        )


def downgrade() -> None:
    op.drop_table("invitations")  # its indexes and policy go with it
