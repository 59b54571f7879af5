"""The teams' wire shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.domain.names import MAX_NAME_LENGTH
from tenantry.domain.teams import MAX_TEAM_DESCRIPTION, Team, TeamMembership
from tenantry.http.wire import DISPLAY_NAME, Input

TEAM_ROLE = (
    "`LEAD` (manages the team's members), `MEMBER`, or the id of a TEAM-scoped custom role "
    "(`rol_…`). Giving a team role is granting: the caller must hold, within the team, every "
    "permission it grants (403 `permission_escalation`)."
)
DESCRIPTION = f"Free text, at most {MAX_TEAM_DESCRIPTION} characters."


class TeamIn(Input):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH * 2,
        description=f"{DISPLAY_NAME} Unique in the organisation, ignoring case "
        "(409 `team_name_taken`).",
    )
    description: str = Field(
        default="", max_length=MAX_TEAM_DESCRIPTION * 2, description=DESCRIPTION
    )


class TeamPatch(Input):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_LENGTH * 2,
        description=f"{DISPLAY_NAME} Null or absent: the name stays.",
    )
    description: str | None = Field(
        default=None, max_length=MAX_TEAM_DESCRIPTION * 2, description=DESCRIPTION
    )


class TeamOut(BaseModel):
    id: str = Field(description="The team's id (`team_…`).")
    name: str = Field(description="The team's name, unique in the organisation.")
    description: str = Field(description="What the team is for.")
    member_count: int = Field(description="How many members the team has, exactly.")
    created_at: datetime = Field(description="When the team was created (RFC 3339, UTC).")

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(
            id=team.id,
            name=team.name,
            description=team.description,
            member_count=team.member_count,
            created_at=team.created_at,
        )


class TeamMemberIn(Input):
    user_id: str = Field(
        min_length=1,
        max_length=40,
        description="An active member of the organisation (404 `member_not_found` otherwise).",
    )
    team_role: str = Field(default="MEMBER", min_length=1, max_length=40, description=TEAM_ROLE)


class TeamMemberPatch(Input):
    team_role: str = Field(min_length=1, max_length=40, description=TEAM_ROLE)


class TeamMemberOut(BaseModel):
    user_id: str = Field(description="The member's user id (`usr_…`).")
    email: str = Field(description="The member's email address as it was when they joined.")
    name: str = Field(description="The member's display name as it was when they joined.")
    team_role: str = Field(description="`LEAD`, `MEMBER`, or a TEAM-scoped role's id.")
    joined_at: datetime = Field(description="When they joined the team (RFC 3339, UTC).")

    @classmethod
    def of(cls, member: TeamMembership) -> TeamMemberOut:
        return cls(
            user_id=member.user_id,
            email=member.email,
            name=member.name,
            team_role=member.team_role,
            joined_at=member.joined_at,
        )


class TeamList(BaseModel):
    items: list[TeamOut] = Field(description="The teams, by creation time.")
