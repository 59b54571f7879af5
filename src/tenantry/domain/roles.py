"""Built-in organisation roles and the permissions each holds."""

from enum import StrEnum


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

ROLE_GRANTS: dict[OrgRole, frozenset[str]] = {
    OrgRole.OWNER: frozenset({"*:*"}),
    OrgRole.ADMIN: frozenset(p for p in BUILT_IN_PERMISSIONS if p not in _OWNER_ONLY),
    OrgRole.MEMBER: frozenset({"organisation:read", "member:read", "team:read"}),
}
