"""The builders of the audit log's endpoints (see `calls` for what a builder is)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx

from tenantry.client.calls import Call, org_path, page_of, paging, read_as
from tenantry.client.models import Page
from tenantry.client.models_audit import AuditEvent, ChainReport


def list_audit_events(
    token: str,
    org_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor_id: str | None = None,
    event_type: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: str | None = None,
    action: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[Page[AuditEvent]]:
    """Newest first; every filter given must hold (`since` inclusive, `until` exclusive,
    both aware datetimes)."""
    query = {
        **_filters(
            since=since,
            until=until,
            actor_id=actor_id,
            event_type=event_type,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            action=action,
        ),
        **paging(limit, cursor),
    }
    path = org_path(org_id, "audit-events")
    return Call("GET", path, page_of(AuditEvent.of), token=token, params=query)


def export_audit_events(
    token: str,
    org_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor_id: str | None = None,
    event_type: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: str | None = None,
    action: str | None = None,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> Call[str]:
    """Every matching event, oldest first, as the server streams it: JSON Lines or CSV text
    (`AuditEvent.lines` parses the former). The filters are the list's."""
    query = {
        **_filters(
            since=since,
            until=until,
            actor_id=actor_id,
            event_type=event_type,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            action=action,
        ),
        "format": format,
    }
    path = org_path(org_id, "audit-events", "export")
    return Call("GET", path, _text, token=token, params=query)


def get_audit_event(token: str, org_id: str, event_id: str) -> Call[AuditEvent]:
    path = org_path(org_id, "audit-events", event_id)
    return Call("GET", path, read_as(AuditEvent.of), token=token)


def verify_audit_chain(token: str, org_id: str) -> Call[ChainReport]:
    """The organisation's hash chain, checked by the server: `ok`, or the first break."""
    path = org_path(org_id, "audit-events", "verify")
    return Call("GET", path, read_as(ChainReport.of), token=token)


def _text(response: httpx.Response) -> str:
    return response.text


def _filters(
    *, since: datetime | None, until: datetime | None, **exact: str | None
) -> dict[str, str]:
    # `from` and `to` are Python keywords, hence `since` and `until`.
    given = {
        "from": since.isoformat() if since is not None else None,
        "to": until.isoformat() if until is not None else None,
        **exact,
    }
    return {name: value for name, value in given.items() if value is not None}
