"""Audit events: what services record about every change, refusal and failed sign-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tenantry.domain.ids import new_id


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

    The store chains it (`seq`, `prev_hash`, `hash`) when the unit of work commits.
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


def unchained_event(draft: AuditDraft, *, at: datetime, request_id: str | None) -> AuditEvent:
    """The event a draft becomes, before its chain places it. Overlong values are cut to the
    SQL columns' widths: an event about malformed input must still be recordable."""
    return AuditEvent(
        event_id=new_id("evt"),
        org_id=draft.org_id,
        occurred_at=at,
        event_type=draft.event_type,
        action=draft.action,
        outcome=draft.outcome,
        actor_id=draft.actor_id,
        actor_type=draft.actor_type,
        resource_type=_clip(draft.resource_type, 40),
        resource_id=_clip(draft.resource_id, 100),
        reason=_clip(draft.reason, 200),
        details=dict(draft.details),
        request_id=request_id,
    )


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value is not None else None
