"""Teams and team memberships in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page
from tenantry.domain.roles import TeamRole
from tenantry.domain.teams import Team, TeamMembership
from tenantry.store.cursor import (
    TEAM_MEMBERS,
    TEAMS,
    decode_cursor,
    page_of,
    scoped,
    team_member_position,
    team_position,
)
from tenantry.store.memory.cursor import follows
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table, exists
from tenantry.store.memory.transaction import Transaction


def _teams(state: MemoryState) -> dict[tuple[str, str], Team]:
    return state.teams


def _team_memberships(state: MemoryState) -> dict[tuple[str, str, str], TeamMembership]:
    return state.team_memberships


def _name_in_org(team: Team) -> tuple[str, str]:
    """What the SQL unique index on (org_id, lower(name)) holds."""
    return (team.org_id, team.name.lower())


class MemoryTeams:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _teams)

    def get(self, org_id: str, team_id: str) -> Team | None:
        return self._table.get((org_id, team_id))

    def get_many(self, org_id: str, team_ids: Sequence[str]) -> list[Team]:
        wanted = set(team_ids)
        return self._table.select(lambda team: team.org_id == org_id and team.id in wanted)

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Team]:
        kind = scoped(TEAMS, org_id)
        after = decode_cursor(cursor, kind=kind) if cursor is not None else None
        found = self._table.select(
            lambda team: team.org_id == org_id and follows(team_position(team), after)
        )
        listed = sorted(found, key=team_position)
        return page_of(listed, limit=limit, position=team_position, kind=kind)

    def count(self, org_id: str) -> int:
        return len(self._table.select(lambda team: team.org_id == org_id))

    def add(self, team: Team) -> None:
        key = (team.org_id, team.id)
        self._table.insert(key, team, code="team_name_taken", unique=_name_in_org)

    def update(self, team: Team, *, on_conflict: TenantryError | None = None) -> None:
        def revised(stored: Team) -> Team:
            return replace(stored, name=team.name, description=team.description)

        self._table.update_unique(
            (team.org_id, team.id),
            revised,
            unique=_name_in_org,
            code="team_changed",
            unique_code="team_name_taken",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, team_id: str) -> None:
        self._table.delete((org_id, team_id), code="team_changed")

    def add_to_member_count(self, org_id: str, team_id: str, delta: int) -> None:
        # Applied to the working state at commit, never to the count this unit of work read.
        def counted(stored: Team) -> Team:
            return replace(stored, member_count=stored.member_count + delta)

        self._table.update((org_id, team_id), counted, precondition=exists, code="team_changed")


def _by_team_then_user(membership: TeamMembership) -> tuple[str, str]:
    return (membership.team_id, membership.user_id)


class MemoryTeamMemberships:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _team_memberships)

    def get(self, org_id: str, team_id: str, user_id: str) -> TeamMembership | None:
        return self._table.get((org_id, team_id, user_id))

    def list_for_team(
        self, org_id: str, team_id: str, *, limit: int, cursor: str | None
    ) -> Page[TeamMembership]:
        kind = scoped(TEAM_MEMBERS, org_id, team_id)
        after = decode_cursor(cursor, kind=kind) if cursor is not None else None
        found = [
            m for m in self.all_for_team(org_id, team_id) if follows(team_member_position(m), after)
        ]
        return page_of(found, limit=limit, position=team_member_position, kind=kind)

    def all_for_team(self, org_id: str, team_id: str) -> list[TeamMembership]:
        found = self._table.select(lambda m: m.org_id == org_id and m.team_id == team_id)
        return sorted(found, key=team_member_position)

    def list_for_user(self, org_id: str, user_id: str) -> list[TeamMembership]:
        found = self._table.select(lambda m: m.org_id == org_id and m.user_id == user_id)
        return sorted(found, key=_by_team_then_user)

    def list_with_role(self, org_id: str, team_role: str) -> list[TeamMembership]:
        found = self._table.select(lambda m: m.org_id == org_id and m.team_role == team_role)
        return sorted(found, key=_by_team_then_user)

    def add(self, membership: TeamMembership) -> None:
        key = (membership.org_id, membership.team_id, membership.user_id)
        self._table.insert(key, membership, code="already_team_member")

    def set_role(self, org_id: str, team_id: str, user_id: str, team_role: str) -> None:
        def with_role(stored: TeamMembership) -> TeamMembership:
            return replace(stored, team_role=team_role)

        key = (org_id, team_id, user_id)
        self._table.update(key, with_role, precondition=exists, code="not_team_member")

    def remove(self, org_id: str, team_id: str, user_id: str) -> None:
        self._table.delete((org_id, team_id, user_id), code="not_team_member")

    def reset_team_role(self, org_id: str, team_role: str) -> None:
        self._table.update_where(
            lambda m: m.org_id == org_id and m.team_role == team_role,
            lambda m: replace(m, team_role=TeamRole.MEMBER.value),
        )

    def end_all_for_team(self, org_id: str, team_id: str) -> None:
        self._table.delete_where(lambda m: m.org_id == org_id and m.team_id == team_id)
