"""organisations: the Temporal workflow and run provisioning the organisation
(TENANTRY_WORKFLOWS=temporal), recorded when the run begins; null with the inline engine

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as table:
        table.add_column(sa.Column("provisioning_workflow_id", sa.String(length=200)))
        table.add_column(sa.Column("provisioning_run_id", sa.String(length=100)))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as table:
        table.drop_column("provisioning_run_id")
        table.drop_column("provisioning_workflow_id")
