"""audit chains: every event on its organisation's hash chain (or the system chain), one
head row per chain, indexes for each filter in seq order, and pruning of archived events

Events already stored are chained here, per chain in (time, id) order, as the service would
have chained them. `audit_chains` holds each chain's head (last seq and hash), how far the
archive reaches and where the stored chain starts once archived events are pruned.

On PostgreSQL `audit_chains` is a tenant table (forced row-level security; the system
chain's row, of no organisation, is visible to all; the operator, `app.user_id` = `system`,
sees every head, to know which chains to verify and archive). `audit_events` gains
`audit_prune`, the only way the runtime role may delete: events at or below its chain's
archived seq. The operator may read the system chain's events too.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from tenantry.domain.audit import ActorType, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import GENESIS, ChainHead, chain_of, chained
from tenantry.store.sql.schema import Json, UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORG = "current_setting('app.org_id', true)"
_USER = "current_setting('app.user_id', true)"
_INDEXES = {
    "ux_audit_org_seq": ["org_id", "seq"],
    "ix_audit_org_time": ["org_id", "occurred_at", "seq"],
    "ix_audit_org_actor": ["org_id", "actor_id", "seq"],
    "ix_audit_org_type": ["org_id", "event_type", "seq"],
    "ix_audit_org_resource": ["org_id", "resource_type", "resource_id", "seq"],
    "ix_audit_org_outcome": ["org_id", "outcome", "seq"],
    "ix_audit_org_action": ["org_id", "action", "seq"],
}


def upgrade() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("chain_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40)),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("latest_at", sa.DateTime(timezone=True)),
        sa.Column("backstep_us", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("archived_seq", sa.BigInteger(), nullable=False),
        sa.Column("archived_hash", sa.String(length=64), nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=False),
        sa.Column("start_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # the owner is bound by forced row-level security too
        op.execute("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY")
    _chain_stored_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_org_time")
        batch_op.drop_index("ix_audit_actor_time")
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns, unique=name.startswith("ux_"))
    if postgres:
        op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")
        _policies()


def _policies() -> None:
    op.execute("ALTER TABLE audit_chains ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_chains FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""CREATE POLICY tenant_isolation ON audit_chains
            USING (org_id IS NULL OR org_id = {_ORG} OR {_USER} = 'system')
            WITH CHECK (org_id IS NULL OR org_id = {_ORG})"""
    )
    op.execute(
        f"""ALTER POLICY audit_read ON audit_events
            USING (org_id = {_ORG}
                   OR (org_id IS NULL AND (actor_id = {_USER} OR {_USER} = 'system')))"""
    )
    op.execute(
        """CREATE POLICY audit_prune ON audit_events FOR DELETE
            USING (seq <= (SELECT c.archived_seq FROM audit_chains c
                           WHERE c.chain_id = COALESCE(audit_events.org_id, 'system')))"""
    )


def _chain_stored_events() -> None:
    bind = op.get_bind()
    typed = {"occurred_at": UtcDateTime(), "details": Json}
    events = sa.table(
        "audit_events", *(sa.column(name, typed.get(name)) for name in _EVENT_COLUMNS)
    )
    rows = bind.execute(
        sa.select(events).order_by(events.c.org_id, events.c.occurred_at, events.c.event_id)
    ).all()
    by_chain: dict[str, list[AuditEvent]] = {}
    for row in rows:
        by_chain.setdefault(chain_of(row.org_id), []).append(_event(row))
    for chain_id, unchained in by_chain.items():
        linked, head = chained(ChainHead(chain_id), unchained)
        for event in linked:
            bind.execute(
                events.update()
                .where(events.c.event_id == event.event_id)
                .values(seq=event.seq, prev_hash=event.prev_hash, hash=event.hash)
            )
        bind.execute(
            sa.text(
                "INSERT INTO audit_chains (chain_id, org_id, seq, hash, latest_at, archived_seq,"
                " archived_hash, start_seq, start_hash) VALUES (:chain, :org, :seq, :hash,"
                " :at, 0, :genesis, 0, :genesis)"
            ),
            {
                "chain": chain_id,
                "org": unchained[0].org_id,
                "seq": head.seq,
                "hash": head.hash,
                "at": head.latest_at,
                "genesis": GENESIS,
            },
        )


_EVENT_COLUMNS = (
    "event_id",
    "org_id",
    "seq",
    "occurred_at",
    "event_type",
    "action",
    "actor_id",
    "actor_type",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "details",
    "request_id",
    "prev_hash",
    "hash",
)


def _event(row: Any) -> AuditEvent:
    # The row as this revision knows it, not the store's mapping, which follows later
    # revisions. `chained` is the domain's own: a chain's hashes never change form.
    return AuditEvent(
        event_id=row.event_id,
        org_id=row.org_id,
        occurred_at=row.occurred_at,
        event_type=EventType(row.event_type),
        action=row.action,
        outcome=Outcome(row.outcome),
        actor_id=row.actor_id,
        actor_type=ActorType(row.actor_type),
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        reason=row.reason,
        details=dict(row.details),
        request_id=row.request_id,
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP POLICY audit_prune ON audit_events")
        op.execute(
            f"""ALTER POLICY audit_read ON audit_events
                USING (org_id = {_ORG} OR (org_id IS NULL AND actor_id = {_USER}))"""
        )
        op.execute("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name in _INDEXES:
            batch_op.drop_index(name)
        batch_op.create_index("ix_audit_org_time", ["org_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_actor_time", ["actor_id", "occurred_at"], unique=False)
    op.execute(sa.text("UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL"))
    if postgres:
        op.execute("ALTER TABLE audit_events FORCE ROW LEVEL SECURITY")
    op.drop_table("audit_chains")
