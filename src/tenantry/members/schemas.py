"""The member-management wire shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tenantry.domain.access import AccessSnapshot
from tenantry.domain.roles import OrgRole
from tenantry.http.wire import Input


class MemberPatch(Input):
    org_role: OrgRole = Field(
        description="The member's new organisation role: `OWNER`, `ADMIN` or `MEMBER`. Only "
        "an OWNER makes or demotes an OWNER; nobody changes their own; the last OWNER cannot "
        "be demoted (409 `last_owner`)."
    )


class TransferIn(Input):
    user_id: str = Field(
        min_length=1,
        max_length=40,
        description="The member who becomes OWNER; the calling OWNER becomes ADMIN.",
    )


class GrantOut(BaseModel):
    permission: str = Field(description="A permission or pattern the member holds.")
    grant: str = Field(
        description="Where it comes from: `org_role:ADMIN`, `role:rol_…(Site editor)`, "
        "`team:team_…/LEAD` or `team:team_…/rol_…(Name)`."
    )
    team_id: str | None = Field(
        description="The team it is limited to; null: it holds organisation-wide."
    )


class PermissionsOut(BaseModel):
    user_id: str = Field(description="The member.")
    organisation_id: str = Field(description="The organisation.")
    org_role: str | None = Field(description="The member's organisation role.")
    team_ids: list[str] = Field(description="The teams the member belongs to.")
    epoch: int = Field(description="The organisation's authz epoch this answer was read at.")
    permissions: list[GrantOut] = Field(
        description="Every grant, organisation-wide ones first, most specific first."
    )

    @classmethod
    def of(cls, access: AccessSnapshot) -> PermissionsOut:
        return cls(
            user_id=access.user_id,
            organisation_id=access.org_id,
            org_role=access.org_role.value if access.org_role else None,
            team_ids=list(access.team_ids),
            epoch=access.epoch,
            permissions=[
                GrantOut(permission=g.pattern, grant=g.path, team_id=g.team_id)
                for g in access.ordered()
            ],
        )
