"""Teams and team memberships, as reads a single-table store can serve: a team and its
members share a partition; a user's teams in one organisation are one more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page
from tenantry.domain.teams import Team, TeamMembership


class TeamsRepository(Protocol):
    def get(self, org_id: str, team_id: str) -> Team | None: ...
    def get_many(self, org_id: str, team_ids: Sequence[str]) -> list[Team]:
        """Those of `team_ids` that exist in the organisation, in no promised order."""

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Team]:
        """The organisation's teams by creation time, then id. `cursor` is a `next_cursor`
        this store returned for the same organisation's teams; else `Invalid`
        `invalid_cursor`."""

    def count(self, org_id: str) -> int: ...
    def add(self, team: Team) -> None:
        """Precondition: no team of the organisation has the same name, ignoring case
        (`Conflict` `team_name_taken`)."""

    def update(self, team: Team, *, on_conflict: TenantryError | None = None) -> None:
        """Write name and description (never `member_count`).

        Preconditions: the team exists (`Conflict` `team_changed`) and its new name is not
        another team's (`Conflict` `team_name_taken`)."""

    def delete(self, org_id: str, team_id: str) -> None:
        """Precondition: the team exists (`Conflict` `team_changed`)."""

    def add_to_member_count(self, org_id: str, team_id: str, delta: int) -> None:
        """`member_count += delta`, applied at commit to the stored value (an increment, not a
        value read earlier). Precondition: the team exists (`Conflict` `team_changed`)."""


class TeamMembershipsRepository(Protocol):
    def get(self, org_id: str, team_id: str, user_id: str) -> TeamMembership | None: ...
    def list_for_team(
        self, org_id: str, team_id: str, *, limit: int, cursor: str | None
    ) -> Page[TeamMembership]:
        """By join time, then user id; cursors as for `TeamsRepository.list`."""

    def all_for_team(self, org_id: str, team_id: str) -> list[TeamMembership]:
        """Every member of the team, by join time, then user id (to end them all)."""

    def list_for_user(self, org_id: str, user_id: str) -> list[TeamMembership]:
        """The user's teams in this organisation only, by team id."""

    def list_with_role(self, org_id: str, team_role: str) -> list[TeamMembership]:
        """Who holds `team_role` in any team of the organisation, by team id, then user id."""

    def add(self, membership: TeamMembership) -> None:
        """Precondition: the user is not in the team (`Conflict` `already_team_member`)."""

    def set_role(self, org_id: str, team_id: str, user_id: str, team_role: str) -> None:
        """Precondition: the user is in the team (`Conflict` `not_team_member`)."""

    def remove(self, org_id: str, team_id: str, user_id: str) -> None:
        """Precondition: the user is in the team (`Conflict` `not_team_member`)."""

    def reset_team_role(self, org_id: str, team_role: str) -> None:
        """Every member holding `team_role`, a custom role this unit of work deletes, holds
        MEMBER in that team, however many. A store may change them after the commit, so from
        the commit on every read gives MEMBER for a custom team role that is gone."""

    def end_all_for_team(self, org_id: str, team_id: str) -> None:
        """End every membership of the team this unit of work deletes, however many. A store
        may remove them after the commit (DynamoDB: one transaction holds 100 items), so from
        the commit on the reads across teams (`list_for_user`, `list_with_role`) leave out a
        membership of a team that is gone (the reads by team are of a team the caller has
        found)."""
