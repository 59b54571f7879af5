"""The roles' wire shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.domain.access import AccessDiff
from tenantry.domain.roles import (
    MAX_PERMISSIONS_PER_ROLE,
    MAX_ROLE_DESCRIPTION,
    MAX_ROLE_NAME,
    Role,
    RoleAssignment,
    RoleScope,
)
from tenantry.http.wire import Input

PERMISSIONS = (
    f"At most {MAX_PERMISSIONS_PER_ROLE} permissions or patterns: 2 to 4 segments of `a-z`, "
    "`0-9`, `_` or `-` joined by `:` (`site:publish`, `team:member:add`); a whole segment may "
    "be `*` (`site:*`, `*:read`, `*:*`; see docs/access-model.md). Duplicates are dropped. "
    "An invalid one is refused with 422 `invalid_permission` naming it; one the caller does "
    "not hold with 403 `permission_escalation`."
)
ROLE_NAME = (
    f"1 to {MAX_ROLE_NAME} visible characters; unique in the organisation, ignoring case "
    "(409 `role_name_taken`)."
)
DESCRIPTION = f"Free text, at most {MAX_ROLE_DESCRIPTION} characters."


class RoleIn(Input):
    name: str = Field(min_length=1, max_length=MAX_ROLE_NAME * 2, description=ROLE_NAME)
    permissions: list[str] = Field(max_length=MAX_PERMISSIONS_PER_ROLE * 4, description=PERMISSIONS)
    description: str = Field(
        default="", max_length=MAX_ROLE_DESCRIPTION * 2, description=DESCRIPTION
    )
    scope: RoleScope = Field(
        default=RoleScope.ORGANISATION,
        description="`ORGANISATION`: assigned to members "
        "(`PUT .../members/{user_id}/roles/{role_id}`). `TEAM`: given as a member's team role "
        "and granting within that team only.",
    )


class RolePatch(Input):
    name: str | None = Field(
        default=None, min_length=1, max_length=MAX_ROLE_NAME * 2, description=ROLE_NAME
    )
    permissions: list[str] | None = Field(
        default=None,
        max_length=MAX_PERMISSIONS_PER_ROLE * 4,
        description=f"The role's new permissions, replacing the old. {PERMISSIONS}",
    )
    description: str | None = Field(
        default=None, max_length=MAX_ROLE_DESCRIPTION * 2, description=DESCRIPTION
    )


class RoleOut(BaseModel):
    id: str = Field(description="The role's id (`rol_…`).")
    name: str = Field(description="The role's name, unique in the organisation.")
    description: str = Field(description="What the role is for.")
    permissions: list[str] = Field(description="The permissions and patterns the role grants.")
    scope: str = Field(description="`ORGANISATION` or `TEAM`.")
    created_at: datetime = Field(description="When the role was created (RFC 3339, UTC).")
    updated_at: datetime | None = Field(
        None, description="When the role was last edited; null if never."
    )

    @classmethod
    def of(cls, role: Role) -> RoleOut:
        return cls(
            id=role.id,
            name=role.name,
            description=role.description,
            permissions=list(role.permissions),
            scope=role.scope.value,
            created_at=role.created_at,
            updated_at=role.updated_at,
        )


class RoleList(BaseModel):
    items: list[RoleOut] = Field(description="Every custom role, by name.")


class AccessChangeOut(BaseModel):
    user_id: str = Field(description="The member whose access would change.")
    team_id: str | None = Field(
        description="The team the change is limited to (a TEAM role); null: organisation-wide."
    )
    gained: list[str] = Field(description="Patterns they would hold that they do not now.")
    lost: list[str] = Field(description="Patterns they hold now and would no longer.")

    @classmethod
    def of(cls, diff: AccessDiff) -> AccessChangeOut:
        return cls(
            user_id=diff.user_id,
            team_id=diff.team_id,
            gained=list(diff.gained),
            lost=list(diff.lost),
        )


class RolePreviewOut(BaseModel):
    dry_run: bool = Field(description="Always true: nothing was written.")
    role: RoleOut = Field(description="The role as the edit would save it.")
    changes: list[AccessChangeOut] = Field(
        description="Every holder of the role whose access would change, with what changes."
    )


class AssignmentOut(BaseModel):
    user_id: str = Field(description="The member holding the role.")
    role_id: str = Field(description="The role (`rol_…`).")
    assigned_at: datetime = Field(description="When it was assigned (RFC 3339, UTC).")
    assigned_by: str = Field(description="Who assigned it (a user id, or `system`).")

    @classmethod
    def of(cls, assignment: RoleAssignment) -> AssignmentOut:
        return cls(
            user_id=assignment.user_id,
            role_id=assignment.role_id,
            assigned_at=assignment.assigned_at,
            assigned_by=assignment.assigned_by,
        )
