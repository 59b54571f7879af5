"""Roles: the built-in organisation and team roles, and custom roles made of permissions.

A member holds exactly one built-in organisation role (OWNER > ADMIN > MEMBER), any number of
custom ORGANISATION-scoped roles assigned to them, and in each team they belong to one team
role: LEAD, MEMBER, or a custom TEAM-scoped role. Every decision is computed from these
entities (`domain.access`), never from the `org_role` claim of a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tenantry.domain.errors import Invalid
from tenantry.domain.permissions import parse_pattern


class OrgRole(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {OrgRole.OWNER: 3, OrgRole.ADMIN: 2, OrgRole.MEMBER: 1}

BUILT_IN_PERMISSIONS = (
    "organisation:read", "organisation:update", "organisation:delete", "organisation:transfer",
    "member:read", "member:update", "member:remove",
    "role:read", "role:create", "role:update", "role:delete", "role:assign",
    "team:read", "team:create", "team:update", "team:delete",
    "team:member:add", "team:member:remove",
    "invitation:read", "invitation:create", "invitation:revoke",
    "audit:read",
)  # fmt: skip

_OWNER_ONLY = frozenset({"organisation:delete", "organisation:transfer"})

ORG_ROLE_PERMISSIONS: dict[OrgRole, tuple[str, ...]] = {
    OrgRole.OWNER: ("*:*",),
    OrgRole.ADMIN: tuple(p for p in BUILT_IN_PERMISSIONS if p not in _OWNER_ONLY),
    OrgRole.MEMBER: ("organisation:read", "member:read", "team:read"),
}


class TeamRole(StrEnum):
    """The built-in team roles; a team role may also be the id of a TEAM-scoped custom role."""

    LEAD = "LEAD"
    MEMBER = "MEMBER"


# A LEAD manages their own team's members without holding `team:member:*` in the organisation.
TEAM_ROLE_PERMISSIONS: dict[TeamRole, tuple[str, ...]] = {
    TeamRole.LEAD: ("team:read", "team:member:add", "team:member:remove"),
    TeamRole.MEMBER: ("team:read",),
}


class RoleScope(StrEnum):
    ORGANISATION = "ORGANISATION"  # assigned to a member of the organisation
    TEAM = "TEAM"  # a member's role in one team, granting within that team


ROLE_ID_PREFIX = "rol"
MAX_PERMISSIONS_PER_ROLE = 64
MAX_ROLES_PER_ORG = 100
MAX_ROLE_NAME = 100
MAX_ROLE_DESCRIPTION = 500


@dataclass(frozen=True, slots=True)
class Role:
    """A custom role of one organisation. `name` is unique in it, ignoring case."""

    id: str
    org_id: str
    name: str
    permissions: tuple[str, ...]
    scope: RoleScope
    created_at: datetime
    description: str = ""
    updated_at: datetime | None = None

    @property
    def label(self) -> str:
        """How a grant path names the role: `rol_…(Site editor)`."""
        return f"{self.id}({self.name})"


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A custom ORGANISATION-scoped role held by a member."""

    org_id: str
    user_id: str
    role_id: str
    assigned_at: datetime
    assigned_by: str


def is_custom_role_id(team_role: str) -> bool:
    return team_role.startswith(f"{ROLE_ID_PREFIX}_")


def role_permissions(patterns: list[str]) -> tuple[str, ...]:
    """The permissions of a role as saved: each a valid permission or pattern (else `Invalid`
    naming it), duplicates dropped, the first spelling's order kept, at most
    `MAX_PERMISSIONS_PER_ROLE`."""
    unique = tuple(dict.fromkeys(parse_pattern(p) for p in patterns))
    if len(unique) > MAX_PERMISSIONS_PER_ROLE:
        raise Invalid(
            f"a role holds at most {MAX_PERMISSIONS_PER_ROLE} permissions",
            code="too_many_permissions",
            extra={"limit": MAX_PERMISSIONS_PER_ROLE},
        )
    return unique
