"""What the memory store holds: one dict of records per kind, keyed as the SQL tables are."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from tenantry.audit.ports import ChainState
from tenantry.domain.audit import AuditEvent
from tenantry.domain.invitations import Invitation
from tenantry.domain.model import (
    Job,
    Membership,
    OneTimeToken,
    Organisation,
    OutboxEntry,
    RefreshToken,
    Session,
    SigningKey,
    User,
)
from tenantry.domain.roles import Role, RoleAssignment
from tenantry.domain.teams import Team, TeamMembership
from tenantry.identities.ports import IdentityLink


@dataclass(slots=True)
class MemoryState:
    """Records are frozen, so a copy of the dicts is a copy of the state that shares them."""

    users: dict[str, User] = field(default_factory=dict)
    organisations: dict[str, Organisation] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    one_time_tokens: dict[str, OneTimeToken] = field(default_factory=dict)
    audit_events: dict[str, AuditEvent] = field(default_factory=dict)
    audit_chains: dict[str, ChainState] = field(default_factory=dict)  # by chain id
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    signing_keys: dict[str, SigningKey] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    # Keyed as their primary keys: (org, role), (org, user, role), (org, team), (org, team, user).
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    role_assignments: dict[tuple[str, str, str], RoleAssignment] = field(default_factory=dict)
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)
    team_memberships: dict[tuple[str, str, str], TeamMembership] = field(default_factory=dict)
    identity_links: dict[tuple[str, str], IdentityLink] = field(default_factory=dict)  # (iss, sub)
    invitations: dict[tuple[str, str], Invitation] = field(default_factory=dict)  # (org, id)

    def copy(self) -> MemoryState:
        tables: dict[str, dict[Any, Any]] = {
            table.name: dict(getattr(self, table.name)) for table in fields(self)
        }
        return MemoryState(**tables)
