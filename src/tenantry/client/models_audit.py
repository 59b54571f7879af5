"""The wire shapes of the audit log: an event with its chain fields, and a chain's check.
Field names are the server's (`audit/schemas.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenantry.client.models import Body, moment


@dataclass(frozen=True)
class AuditEvent:
    event_id: str
    org_id: str | None
    seq: int | None  # its place in the organisation's chain: 1, 2, ...
    occurred_at: datetime
    event_type: str
    action: str
    outcome: str  # `SUCCESS`, `FAILURE` or `DENIED`
    actor_id: str | None
    actor_type: str
    resource_type: str | None
    resource_id: str | None
    reason: str | None
    details: dict[str, Any]
    request_id: str | None
    prev_hash: str | None
    hash: str | None

    @classmethod
    def of(cls, body: Body) -> AuditEvent:
        fields = {name: body[name] for name in _EVENT_FIELDS}
        return cls(**fields, occurred_at=moment(body["occurred_at"]))

    @classmethod
    def lines(cls, text: str) -> list[AuditEvent]:
        """The events of a JSON Lines export."""
        return [cls.of(json.loads(line)) for line in text.splitlines() if line]


_EVENT_FIELDS = (
    "event_id",
    "org_id",
    "seq",
    "event_type",
    "action",
    "outcome",
    "actor_id",
    "actor_type",
    "resource_type",
    "resource_id",
    "reason",
    "details",
    "request_id",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class ChainBreak:
    problem: str  # `hash_mismatch`, `seq_gap`, `prev_hash_mismatch`, ... (docs/audit.md)
    seq: int | None
    event_id: str | None
    detail: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    chain_id: str
    checked: int
    head_seq: int
    start_seq: int
    first_break: ChainBreak | None

    @classmethod
    def of(cls, body: Body) -> ChainReport:
        broken = body["first_break"]
        return cls(
            ok=bool(body["ok"]),
            chain_id=body["chain_id"],
            checked=int(body["checked"]),
            head_seq=int(body["head_seq"]),
            start_seq=int(body["start_seq"]),
            first_break=None if broken is None else ChainBreak(**broken),
        )
