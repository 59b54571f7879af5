"""What one user may do in one organisation: a small snapshot every decision is computed from.

A snapshot is built from the member's organisation role, their custom role assignments and
their team memberships, with the roles those name. It is keyed by (user, organisation) and
valid for one `authz_epoch` of the organisation: every change that could alter it bumps the
epoch in the same transaction, so a cache of snapshots needs no other invalidation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tenantry.domain.permissions import covers, matches, specificity
from tenantry.domain.roles import (
    ORG_ROLE_PERMISSIONS,
    TEAM_ROLE_PERMISSIONS,
    OrgRole,
    Role,
    RoleAssignment,
    RoleScope,
    TeamRole,
)
from tenantry.domain.teams import TeamMembership

OPERATOR_PATH = "operator"


@dataclass(frozen=True, slots=True)
class Grant:
    """One pattern a user holds, where it comes from (`org_role:ADMIN`,
    `role:rol_…(Site editor)`, `team:team_…/LEAD`), and the team it is limited to, if any."""

    pattern: str
    path: str
    team_id: str | None = None

    @property
    def order(self) -> tuple[tuple[int, int, int, str], str]:
        """Most specific pattern first, then the path: the grant reported when several match."""
        return (specificity(self.pattern), self.path)


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    org_id: str
    user_id: str
    org_role: OrgRole | None
    epoch: int
    grants: tuple[Grant, ...] = ()
    team_ids: tuple[str, ...] = field(default=())

    @classmethod
    def operator(cls, org_id: str, epoch: int) -> AccessSnapshot:
        """The operator at the CLI: holds everything, in every team."""
        return cls(org_id, "system", None, epoch, (Grant("*:*", OPERATOR_PATH),))

    def grants_in(self, team_id: str | None = None) -> list[Grant]:
        """The organisation-wide grants, plus those of `team_id` when one is named."""
        return [g for g in self.grants if g.team_id is None or (team_id and g.team_id == team_id)]

    def grant_for(self, permission: str, team_id: str | None = None) -> Grant | None:
        found = [g for g in self.grants_in(team_id) if matches(g.pattern, permission)]
        return min(found, key=lambda g: g.order) if found else None

    def holds(self, pattern: str, team_id: str | None = None) -> bool:
        """Whether the user holds everything `pattern` names (compared by the grammar)."""
        return any(covers(g.pattern, pattern) for g in self.grants_in(team_id))

    def missing(self, patterns: Iterable[str], team_id: str | None = None) -> list[str]:
        return [p for p in patterns if not self.holds(p, team_id)]

    def patterns(self, team_id: str | None = None) -> set[str]:
        return {g.pattern for g in self.grants_in(team_id)}

    def ordered(self) -> list[Grant]:
        return sorted(self.grants, key=lambda g: (g.team_id or "", g.order))


def build_snapshot(
    *,
    org_id: str,
    user_id: str,
    org_role: OrgRole,
    epoch: int,
    roles: Mapping[str, Role],
    assignments: Iterable[RoleAssignment],
    team_memberships: Iterable[TeamMembership],
) -> AccessSnapshot:
    """The snapshot of an active member of a live organisation.

    An assignment whose role is gone or not ORGANISATION-scoped grants nothing; a team
    membership whose custom role is gone grants what a team MEMBER has.
    """
    grants = [Grant(p, f"org_role:{org_role.value}") for p in ORG_ROLE_PERMISSIONS[org_role]]
    for assignment in assignments:
        role = roles.get(assignment.role_id)
        if role is not None and role.scope is RoleScope.ORGANISATION:
            grants.extend(Grant(p, f"role:{role.label}") for p in role.permissions)
    team_ids: list[str] = []
    for membership in team_memberships:
        team_ids.append(membership.team_id)
        grants.extend(team_grants(membership, roles))
    return AccessSnapshot(org_id, user_id, org_role, epoch, tuple(grants), tuple(sorted(team_ids)))


def team_grants(membership: TeamMembership, roles: Mapping[str, Role]) -> list[Grant]:
    """What a team role grants, within its team only."""
    team_id, team_role = membership.team_id, membership.team_role
    role = roles.get(team_role)
    if role is not None and role.scope is RoleScope.TEAM:
        path, permissions = f"team:{team_id}/{role.label}", role.permissions
    else:
        built_in = TeamRole.__members__.get(team_role, TeamRole.MEMBER)
        path, permissions = f"team:{team_id}/{built_in.value}", TEAM_ROLE_PERMISSIONS[built_in]
    return [Grant(p, path, team_id) for p in permissions]


@dataclass(frozen=True, slots=True)
class AccessDiff:
    """What one member gains and loses, organisation-wide or within one team."""

    user_id: str
    team_id: str | None
    gained: tuple[str, ...]
    lost: tuple[str, ...]


def access_diff(
    before: AccessSnapshot, after: AccessSnapshot, team_id: str | None = None
) -> AccessDiff:
    """Patterns newly held (not covered before) and no longer held (not covered after)."""
    gained = sorted(p for p in after.patterns(team_id) if not before.holds(p, team_id))
    lost = sorted(p for p in before.patterns(team_id) if not after.holds(p, team_id))
    return AccessDiff(before.user_id, team_id, tuple(gained), tuple(lost))
