"""epochs instead of bulk updates; member email and name on the membership

Users get a session epoch (a session begun in an older one is over) and a reset epoch (an
older password-reset link no longer works); sessions and one-time tokens record the epoch
they began in. Memberships carry their member's email and name, so a member list reads one
table; existing rows are filled from `users`.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EPOCHS = {
    "users": ("session_epoch", "reset_epoch"),
    "sessions": ("epoch",),
    "one_time_tokens": ("epoch",),
}


def upgrade() -> None:
    for table, columns in _EPOCHS.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.add_column(
                    sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
                )
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.add_column(
            sa.Column("email", sa.String(length=320), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("name", sa.String(length=200), nullable=False, server_default="")
        )
    _fill_member_fields()


def _fill_member_fields() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # The owner is bound by forced row-level security too; the backfill reads every tenant.
    if postgres:
        op.execute("ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "UPDATE memberships SET "
        "email = (SELECT email FROM users WHERE users.id = memberships.user_id), "
        "name = (SELECT name FROM users WHERE users.id = memberships.user_id)"
    )
    if postgres:
        op.execute("ALTER TABLE memberships FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch_op:
        batch_op.drop_column("name")
        batch_op.drop_column("email")
    for table, columns in _EPOCHS.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.drop_column(column)
