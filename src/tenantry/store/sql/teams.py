"""Teams and team memberships on SQL: every query names the org it is for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

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
from tenantry.store.sql.schema import Id, UtcDateTime, after_position, metadata
from tenantry.store.sql.writes import Expect, WriteBuffer

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("member_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_teams_org_created", "org_id", "created_at", "id"),
)
# Names are unique in an organisation ignoring case; the index is also what refuses a rename.
sa.Index("uq_teams_org_name", teams.c.org_id, sa.func.lower(teams.c.name), unique=True)

team_memberships = sa.Table(
    "team_memberships",
    metadata,
    sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("team_id", Id, primary_key=True),
    sa.Column("user_id", Id, primary_key=True),
    sa.Column("team_role", sa.String(40), nullable=False),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_team_memberships_joined", "org_id", "team_id", "joined_at", "user_id"),
    sa.Index("ix_team_memberships_user", "org_id", "user_id"),
    sa.Index("ix_team_memberships_role", "org_id", "team_role"),
)


def _team(row: Any) -> Team:
    return Team(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        created_at=row.created_at,
        description=row.description,
        member_count=row.member_count,
    )


def _team_membership(row: Any) -> TeamMembership:
    return TeamMembership(
        org_id=row.org_id,
        team_id=row.team_id,
        user_id=row.user_id,
        team_role=row.team_role,
        joined_at=row.joined_at,
        email=row.email,
        name=row.name,
    )


def _the_team(org_id: str, team_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(teams.c.org_id == org_id, teams.c.id == team_id)


class SqlTeams:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str, team_id: str) -> Team | None:
        row = self._db.execute(sa.select(teams).where(_the_team(org_id, team_id))).first()
        return _team(row) if row else None

    def get_many(self, org_id: str, team_ids: Sequence[str]) -> list[Team]:
        if not team_ids:
            return []
        stmt = sa.select(teams).where(teams.c.org_id == org_id, teams.c.id.in_(list(team_ids)))
        return [_team(row) for row in self._db.execute(stmt)]

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Team]:
        kind = scoped(TEAMS, org_id)
        stmt = (
            sa.select(teams)
            .where(teams.c.org_id == org_id)
            .order_by(teams.c.created_at, teams.c.id)
            .limit(limit + 1)
        )
        if cursor is not None:
            after = decode_cursor(cursor, kind=kind)
            stmt = stmt.where(after_position(teams.c.created_at, teams.c.id, after))
        found = [_team(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=team_position, kind=kind)

    def count(self, org_id: str) -> int:
        stmt = sa.select(sa.func.count()).select_from(teams).where(teams.c.org_id == org_id)
        return int(self._db.execute(stmt).scalar_one())

    def add(self, team: Team) -> None:
        statement = teams.insert().values(
            org_id=team.org_id,
            id=team.id,
            name=team.name,
            description=team.description,
            member_count=team.member_count,
            created_at=team.created_at,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="team_name_taken")

    def update(self, team: Team, *, on_conflict: TenantryError | None = None) -> None:
        statement = (
            teams.update()
            .where(_the_team(team.org_id, team.id))
            .values(name=team.name, description=team.description)
        )
        self._writes.add(
            statement,
            expect=Expect.ONE_ROW,
            code="team_changed",
            unique_code="team_name_taken",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, team_id: str) -> None:
        statement = teams.delete().where(_the_team(org_id, team_id))
        self._writes.add(statement, expect=Expect.ONE_ROW, code="team_changed")

    def add_to_member_count(self, org_id: str, team_id: str, delta: int) -> None:
        # Computed by the database at commit, so concurrent joins and leaves all count.
        statement = (
            teams.update()
            .where(_the_team(org_id, team_id))
            .values(member_count=teams.c.member_count + delta)
        )
        self._writes.add(statement, expect=Expect.ONE_ROW, code="team_changed")


def _the_member(org_id: str, team_id: str, user_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        team_memberships.c.org_id == org_id,
        team_memberships.c.team_id == team_id,
        team_memberships.c.user_id == user_id,
    )


def _members_of(org_id: str, team_id: str) -> sa.Select[Any]:
    c = team_memberships.c
    return (
        sa.select(team_memberships)
        .where(c.org_id == org_id, c.team_id == team_id)
        .order_by(c.joined_at, c.user_id)
    )


class SqlTeamMemberships:
    def __init__(self, connection: sa.Connection, writes: WriteBuffer) -> None:
        self._db = connection
        self._writes = writes

    def get(self, org_id: str, team_id: str, user_id: str) -> TeamMembership | None:
        stmt = sa.select(team_memberships).where(_the_member(org_id, team_id, user_id))
        row = self._db.execute(stmt).first()
        return _team_membership(row) if row else None

    def list_for_team(
        self, org_id: str, team_id: str, *, limit: int, cursor: str | None
    ) -> Page[TeamMembership]:
        kind = scoped(TEAM_MEMBERS, org_id, team_id)
        stmt = _members_of(org_id, team_id).limit(limit + 1)
        if cursor is not None:
            after = decode_cursor(cursor, kind=kind)
            c = team_memberships.c
            stmt = stmt.where(after_position(c.joined_at, c.user_id, after))
        found = [_team_membership(row) for row in self._db.execute(stmt)]
        return page_of(found, limit=limit, position=team_member_position, kind=kind)

    def all_for_team(self, org_id: str, team_id: str) -> list[TeamMembership]:
        return [_team_membership(row) for row in self._db.execute(_members_of(org_id, team_id))]

    def list_for_user(self, org_id: str, user_id: str) -> list[TeamMembership]:
        c = team_memberships.c
        stmt = (
            sa.select(team_memberships)
            .where(c.org_id == org_id, c.user_id == user_id)
            .order_by(c.team_id)
        )
        return [_team_membership(row) for row in self._db.execute(stmt)]

    def list_with_role(self, org_id: str, team_role: str) -> list[TeamMembership]:
        c = team_memberships.c
        stmt = (
            sa.select(team_memberships)
            .where(c.org_id == org_id, c.team_role == team_role)
            .order_by(c.team_id, c.user_id)
        )
        return [_team_membership(row) for row in self._db.execute(stmt)]

    def add(self, membership: TeamMembership) -> None:
        statement = team_memberships.insert().values(
            org_id=membership.org_id,
            team_id=membership.team_id,
            user_id=membership.user_id,
            team_role=membership.team_role,
            joined_at=membership.joined_at,
            email=membership.email,
            name=membership.name,
        )
        self._writes.add(statement, expect=Expect.UNIQUE, code="already_team_member")

    def set_role(self, org_id: str, team_id: str, user_id: str, team_role: str) -> None:
        statement = (
            team_memberships.update()
            .where(_the_member(org_id, team_id, user_id))
            .values(team_role=team_role)
        )
        self._writes.add(statement, expect=Expect.ONE_ROW, code="not_team_member")

    def remove(self, org_id: str, team_id: str, user_id: str) -> None:
        statement = team_memberships.delete().where(_the_member(org_id, team_id, user_id))
        self._writes.add(statement, expect=Expect.ONE_ROW, code="not_team_member")

    def reset_team_role(self, org_id: str, team_role: str) -> None:
        c = team_memberships.c
        statement = (
            team_memberships.update()
            .where(c.org_id == org_id, c.team_role == team_role)
            .values(team_role=TeamRole.MEMBER.value)
        )
        self._writes.add(statement)

    def end_all_for_team(self, org_id: str, team_id: str) -> None:
        c = team_memberships.c
        self._writes.add(team_memberships.delete().where(c.org_id == org_id, c.team_id == team_id))
