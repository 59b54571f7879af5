"""Teams of an organisation and their members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_TEAMS_PER_ORG = 500
MAX_TEAM_DESCRIPTION = 500


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    org_id: str
    name: str
    created_at: datetime
    description: str = ""
    # Kept exact by the store: every add and remove of a member changes it in the same
    # transaction, as an increment, never as a value read earlier.
    member_count: int = 0


@dataclass(frozen=True, slots=True)
class TeamMembership:
    org_id: str
    team_id: str
    user_id: str
    team_role: str  # LEAD, MEMBER, or the id of a TEAM-scoped custom role
    joined_at: datetime
    # The member's email and name when they joined, so a team's member list is one read.
    email: str = ""
    name: str = ""
