"""identity links: which tenantry user a trusted external issuer's subject is

One row per (issuer, subject), pointing at a user. Like `users`, the table belongs to no
tenant: no row-level security (the runtime role reads it before any organisation is bound),
and `migrate` grants it as it grants every table. On PostgreSQL the issuer and subject sort
in the "C" collation, bytewise, as SQLite and the memory store compare them, so the list
pages the same on every store.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BYTEWISE = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "identity_links",
        sa.Column("issuer", _BYTEWISE, nullable=False),
        sa.Column("subject", _BYTEWISE, nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("issuer", "subject"),
    )
    op.create_index("ix_identity_links_user", "identity_links", ["user_id", "issuer", "subject"])


def downgrade() -> None:
    op.drop_index("ix_identity_links_user", table_name="identity_links")
    op.drop_table("identity_links")
