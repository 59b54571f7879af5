"""Teams and team memberships on DynamoDB. A team lives in its organisation's partition, its
name (ignoring case) held by a `TEAMNAME#` item, its list on GSI2; a team's members share a
partition, and are also found by user (GSI1) and by team role (GSI3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page
from tenantry.domain.roles import TeamRole, is_custom_role_id
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
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoTeams:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str, team_id: str) -> Team | None:
        found = self._reads.get(keys.team(org_id, team_id))
        return _team(found) if found is not None else None

    def get_many(self, org_id: str, team_ids: Sequence[str]) -> list[Team]:
        found = self._reads.get_many([keys.team(org_id, team_id) for team_id in set(team_ids)])
        return [_team(item) for item in found]

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Team]:
        kind = scoped(TEAMS, org_id)
        after = decode_cursor(cursor, kind=kind) if cursor is not None else None
        values: dict[str, Any] = {"pk": f"ORG#{org_id}#TEAMS"}
        condition = "GSI2PK = :pk"
        if after is not None:
            values["start"] = f"{keys.sortable(after[0])}#{after[1]}"
            condition += " AND GSI2SK > :start"
        found = self._reads.query(condition, values, index="GSI2", wanted=limit + 1)
        listed = [_team(item) for item in found]
        return page_of(listed, limit=limit, position=team_position, kind=kind)

    def count(self, org_id: str) -> int:
        found = self._reads.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"ORG#{org_id}", "prefix": keys.TEAM_PREFIX},
        )
        return len(found)

    def add(self, team: Team) -> None:
        self._writes.put(keys.team(team.org_id, team.id), _attributes(team), code="conflict")
        self._writes.put(
            keys.team_name(team.org_id, team.name), {"team_id": team.id}, code="team_name_taken"
        )

    def update(self, team: Team, *, on_conflict: TenantryError | None = None) -> None:
        stored = self.get(team.org_id, team.id)
        if stored is not None and stored.name.lower() != team.name.lower():
            self._writes.delete(
                keys.team_name(stored.org_id, stored.name),
                expect={"team_id": stored.id},
                code="team_changed",
                on_conflict=on_conflict,
            )
            self._writes.put(
                keys.team_name(team.org_id, team.name),
                {"team_id": team.id},
                code="team_name_taken",
                on_conflict=on_conflict,
            )
        self._writes.update(
            keys.team(team.org_id, team.id),
            {"name": team.name, "description": team.description},
            code="team_changed",
            on_conflict=on_conflict,
        )

    def delete(self, org_id: str, team_id: str) -> None:
        stored = self.get(org_id, team_id)
        self._writes.delete(keys.team(org_id, team_id), code="team_changed")
        if stored is not None:
            self._writes.delete(
                keys.team_name(org_id, stored.name),
                expect={"team_id": team_id},
                code="team_changed",
            )

    def add_to_member_count(self, org_id: str, team_id: str, delta: int) -> None:
        self._writes.increment(
            keys.team(org_id, team_id), "member_count", delta, code="team_changed"
        )


class DynamoTeamMemberships:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str, team_id: str, user_id: str) -> TeamMembership | None:
        found = self._reads.get(keys.team_membership(org_id, team_id, user_id))
        if found is None:
            return None
        [member] = self._after_tidying(org_id, [_member(found)])
        return member

    def list_for_team(
        self, org_id: str, team_id: str, *, limit: int, cursor: str | None
    ) -> Page[TeamMembership]:
        kind = scoped(TEAM_MEMBERS, org_id, team_id)
        after = decode_cursor(cursor, kind=kind) if cursor is not None else None
        values: dict[str, Any] = {"pk": f"TEAM#{org_id}#{team_id}#MEMBERS"}
        condition = "GSI2PK = :pk"
        if after is not None:
            values["start"] = f"{keys.sortable(after[0])}#{after[1]}"
            condition += " AND GSI2SK > :start"
        found = self._reads.query(condition, values, index="GSI2", wanted=limit + 1)
        listed = self._after_tidying(org_id, [_member(item) for item in found])
        return page_of(listed, limit=limit, position=team_member_position, kind=kind)

    def all_for_team(self, org_id: str, team_id: str) -> list[TeamMembership]:
        # The team's own partition, strongly consistent: this list ends every membership.
        found = self._reads.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"TEAM#{org_id}#{team_id}", "prefix": keys.MEMBER_PREFIX},
        )
        listed = self._after_tidying(org_id, [_member(item) for item in found])
        return sorted(listed, key=team_member_position)

    def list_for_user(self, org_id: str, user_id: str) -> list[TeamMembership]:
        found = self._reads.query(
            "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
            {"pk": f"ORG#{org_id}#USER#{user_id}", "prefix": keys.TEAM_PREFIX},
            index="GSI1",
        )
        return self._after_tidying(org_id, [_member(item) for item in found], across_teams=True)

    def list_with_role(self, org_id: str, team_role: str) -> list[TeamMembership]:
        found = self._reads.query(
            "GSI3PK = :pk", {"pk": f"ORG#{org_id}#TEAMROLE#{team_role}"}, index="GSI3"
        )
        listed = self._after_tidying(org_id, [_member(item) for item in found], across_teams=True)
        return [m for m in listed if m.team_role == team_role]

    def _after_tidying(
        self, org_id: str, found: list[TeamMembership], *, across_teams: bool = False
    ) -> list[TeamMembership]:
        """The memberships as they will be once a deletion's tidying is done: a deleted team's
        memberships are removed, and a deleted custom team role becomes MEMBER, only after the
        deletion has committed (`end_all_for_team`, `reset_team_role`). Read in one batch.
        (A read by team is of a team the unit of work has found: only the reads across teams
        look for the team.)"""
        team_ids = sorted({m.team_id for m in found}) if across_teams else []
        role_ids = sorted({m.team_role for m in found if is_custom_role_id(m.team_role)})
        if not team_ids and not role_ids:
            return found
        wanted = [keys.team(org_id, t) for t in team_ids] + [keys.role(org_id, r) for r in role_ids]
        there = {(item["entity"], item["id"]) for item in self._reads.remembered(wanted)}
        return [
            m
            if ("role", m.team_role) in there or not is_custom_role_id(m.team_role)
            else replace(m, team_role=TeamRole.MEMBER.value)
            for m in found
            if not across_teams or ("team", m.team_id) in there
        ]

    def add(self, membership: TeamMembership) -> None:
        m = membership
        self._writes.put(
            keys.team_membership(m.org_id, m.team_id, m.user_id),
            _member_attributes(m),
            code="already_team_member",
        )

    def set_role(self, org_id: str, team_id: str, user_id: str, team_role: str) -> None:
        stored = self.get(org_id, team_id, user_id)
        joined = stored.joined_at if stored is not None else None
        indexes = (
            keys.team_membership_indexes(org_id, team_id, user_id, team_role, joined)
            if joined is not None
            else {}
        )
        self._writes.update(
            keys.team_membership(org_id, team_id, user_id),
            {"team_role": team_role, **indexes},
            code="not_team_member",
        )

    def remove(self, org_id: str, team_id: str, user_id: str) -> None:
        self._writes.delete(keys.team_membership(org_id, team_id, user_id), code="not_team_member")

    def end_all_for_team(self, org_id: str, team_id: str) -> None:
        # Not in the transaction, which holds 100 items whatever the team's size: the team's
        # deletion commits, from then on the reads across teams hide its memberships, and
        # they are deleted after; what a failed delete leaves stays hidden.
        self._writes.after_commit(lambda: self._delete_members(org_id, team_id))

    def _delete_members(self, org_id: str, team_id: str) -> None:
        found = self._reads.query(  # the team's own partition, strongly consistent
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"TEAM#{org_id}#{team_id}", "prefix": keys.MEMBER_PREFIX},
        )
        self._writes.delete_now([{"PK": item["PK"], "SK": item["SK"]} for item in found])

    def reset_team_role(self, org_id: str, team_role: str) -> None:
        # After the commit, as `end_all_for_team` (the reads give MEMBER meanwhile).
        self._writes.after_commit(lambda: self._reset(org_id, team_role))

    def _reset(self, org_id: str, team_role: str) -> None:
        found = self._reads.query(
            "GSI3PK = :pk", {"pk": f"ORG#{org_id}#TEAMROLE#{team_role}"}, index="GSI3"
        )
        member = TeamRole.MEMBER.value
        for m in (_member(item) for item in found):
            indexes = keys.team_membership_indexes(
                org_id, m.team_id, m.user_id, member, m.joined_at
            )
            self._writes.update_now(
                keys.team_membership(org_id, m.team_id, m.user_id),
                {"team_role": member, **indexes},
                expect={"team_role": team_role},
            )


def _attributes(team: Team) -> dict[str, Any]:
    return {
        "entity": "team",
        "id": team.id,
        "org_id": team.org_id,
        "name": team.name,
        "created_at": team.created_at,
        "description": team.description,
        "member_count": team.member_count,
        **keys.team_index(team.org_id, team.created_at, team.id),
    }


def _team(item: dict[str, Any]) -> Team:
    created = codec.required_moment(item["created_at"])
    return Team(
        id=item["id"],
        org_id=item["org_id"],
        name=item["name"],
        created_at=created,
        description=item.get("description", ""),
        member_count=item.get("member_count", 0),
    )


def _member_attributes(m: TeamMembership) -> dict[str, Any]:
    return {
        "entity": "team_membership",
        "org_id": m.org_id,
        "team_id": m.team_id,
        "user_id": m.user_id,
        "team_role": m.team_role,
        "joined_at": m.joined_at,
        "email": m.email,
        "name": m.name,
        **keys.team_membership_indexes(m.org_id, m.team_id, m.user_id, m.team_role, m.joined_at),
    }


def _member(item: dict[str, Any]) -> TeamMembership:
    joined = codec.required_moment(item["joined_at"])
    return TeamMembership(
        org_id=item["org_id"],
        team_id=item["team_id"],
        user_id=item["user_id"],
        team_role=item["team_role"],
        joined_at=joined,
        email=item.get("email", ""),
        name=item.get("name", ""),
    )
