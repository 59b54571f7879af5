"""The audit events of sign-in, sessions and bearer checks."""

from __future__ import annotations

from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome


def auth_event(
    action: str,
    outcome: Outcome,
    user_id: str | None,
    reason: str | None,
    *,
    org_id: str | None = None,
    session_id: str | None = None,
    **details: object,
) -> AuditDraft:
    """An AUTHENTICATION event; about a session when `session_id` is given, else the user."""
    if session_id is not None:
        details["session_id"] = session_id
    return AuditDraft(
        event_type=EventType.AUTHENTICATION,
        action=action,
        outcome=outcome,
        org_id=org_id,
        actor_id=user_id,
        actor_type=ActorType.USER if user_id else ActorType.ANONYMOUS,
        resource_type="session" if session_id else "user",
        resource_id=session_id or user_id,
        reason=reason,
        details={k: v for k, v in details.items() if v is not None},
    )
