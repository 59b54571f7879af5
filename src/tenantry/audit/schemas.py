"""The audit log's wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.audit.service import ChainReport
from tenantry.domain.audit import ActorType, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import canonical_fields


class AuditEventOut(BaseModel):
    event_id: str = Field(description="`evt_…`, random.")
    org_id: str | None = Field(description="The organisation; null for the system chain.")
    seq: int | None = Field(description="The event's place in its organisation's chain: 1, 2, …")
    occurred_at: datetime = Field(
        description="UTC, microseconds: as stamped, so a clock that ran back may put it before "
        "the event before it."
    )
    event_type: EventType = Field(description="The kind of event (docs/audit.md).")
    action: str = Field(description="The operation: `team.create`, `auth.login`, or a permission.")
    outcome: Outcome = Field(description="`SUCCESS`, `FAILURE` or `DENIED`.")
    actor_id: str | None = Field(description="Who acted (`usr_…`, `system`), if known.")
    actor_type: ActorType = Field(description="`USER`, `ANONYMOUS` or `SYSTEM`.")
    resource_type: str | None = Field(description="What was acted on: `team`, `role`, …")
    resource_id: str | None = Field(description="The id of what was acted on.")
    reason: str | None = Field(description="A stable code for a refusal or failure.")
    details: dict[str, Any] = Field(description="Event-specific facts (before/after, …).")
    request_id: str | None = Field(description="The request that recorded it.")
    prev_hash: str | None = Field(description="The `hash` of the event before (64 zeros first).")
    hash: str | None = Field(
        description="SHA-256 (hex) of the event's RFC 8785 canonical JSON; see docs/audit.md."
    )

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls.model_validate(event, from_attributes=True)


def event_json(event: AuditEvent) -> dict[str, Any]:
    """An event as one line of an export: every field as it is hashed, and the hash, in the
    order of `AuditEventOut` (the CSV's columns)."""
    fields = {**canonical_fields(event), "hash": event.hash}
    return {name: fields[name] for name in AuditEventOut.model_fields}


class ChainBreakOut(BaseModel):
    problem: str = Field(
        description="`hash_mismatch`, `seq_gap`, `prev_hash_mismatch`, `unchained`, "
        "`head_mismatch` or `anchor_mismatch` (docs/audit.md)."
    )
    seq: int | None = Field(description="The seq of the event at the break.")
    event_id: str | None = Field(description="The event at which the chain breaks.")
    detail: str = Field(description="What is wrong, for people.")


class ChainReportOut(BaseModel):
    ok: bool = Field(description="Whether every link holds.")
    chain_id: str = Field(description="The organisation's id, or `system`.")
    checked: int = Field(description="Events read before the first break, or all of them.")
    head_seq: int = Field(description="The last seq the chain's head records.")
    start_seq: int = Field(description="The seq the stored chain follows (0 unless pruned).")
    first_break: ChainBreakOut | None = Field(description="Null when `ok`.")

    @classmethod
    def of(cls, report: ChainReport) -> ChainReportOut:
        broken = report.broken
        return cls(
            ok=report.ok,
            chain_id=report.chain_id,
            checked=report.checked,
            head_seq=report.head_seq,
            start_seq=report.start_seq,
            first_break=None
            if broken is None
            else ChainBreakOut(
                problem=broken.problem,
                seq=broken.seq,
                event_id=broken.event_id,
                detail=broken.detail,
            ),
        )
