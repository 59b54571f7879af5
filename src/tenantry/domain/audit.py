"""Audit events: what services record about every change, refusal and failed sign-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    AUTHENTICATION = "AUTHENTICATION"
    AUTHORIZATION = "AUTHORIZATION"
    USER_MANAGEMENT = "USER_MANAGEMENT"
    ORGANISATION = "ORGANISATION"
    PERMISSION_CHANGE = "PERMISSION_CHANGE"
    ROLE_CHANGE = "ROLE_CHANGE"
    TEAM_MEMBERSHIP = "TEAM_MEMBERSHIP"
    INVITATION = "INVITATION"
    CONFIGURATION = "CONFIGURATION"


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DENIED = "DENIED"


class ActorType(StrEnum):
    USER = "USER"
    ANONYMOUS = "ANONYMOUS"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An event as a service describes it; the store gives it an id and its time.

    `seq`, `prev_hash` and `hash` (the per-organisation chain) are not filled in yet.
    """

    event_type: EventType
    action: str
    outcome: Outcome
    org_id: str | None = None
    actor_id: str | None = None
    actor_type: ActorType = ActorType.USER
    resource_type: str | None = None
    resource_id: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_id: str
    org_id: str | None
    occurred_at: datetime
    event_type: EventType
    action: str
    outcome: Outcome
    actor_id: str | None
    actor_type: ActorType
    resource_type: str | None
    resource_id: str | None
    reason: str | None
    details: dict[str, Any]
    request_id: str | None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
