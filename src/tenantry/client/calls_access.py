"""The calls of an organisation's access model: custom roles and their assignment to
members, teams and their members. Every change answers with the organisation's authz epoch
(`Written.epoch`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenantry.client.calls import (
    Call,
    given,
    items_of,
    org_path,
    page_of,
    paging,
    read_as,
    written_as,
    written_nothing,
)
from tenantry.client.models import Page, Written
from tenantry.client.models_org import Assignment, Role, RolePreview, Team, TeamMember

# --- roles ----------------------------------------------------------------------------------


def list_roles(token: str, org_id: str) -> Call[tuple[Role, ...]]:
    """Every custom role of the organisation (at most 100), by name; not paged."""
    return Call("GET", org_path(org_id, "roles"), items_of(Role.of), token=token)


def create_role(
    token: str,
    org_id: str,
    name: str,
    permissions: Sequence[str],
    *,
    description: str | None = None,
    scope: str | None = None,
) -> Call[Written[Role]]:
    """`scope` is `ORGANISATION` (the default: assigned to members) or `TEAM` (given as a
    team role). The caller must hold every permission the role grants."""
    body: dict[str, Any] = {"name": name, "permissions": list(permissions)}
    body |= given(description=description, scope=scope)
    return Call("POST", org_path(org_id, "roles"), written_as(Role.of), json=body, token=token)


def get_role(token: str, org_id: str, role_id: str) -> Call[Role]:
    return Call("GET", org_path(org_id, "roles", role_id), read_as(Role.of), token=token)


def update_role(
    token: str,
    org_id: str,
    role_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: Sequence[str] | None = None,
) -> Call[Written[Role]]:
    """What is given replaces what the role had (`permissions` whole); the caller must hold
    every permission the role gains."""
    body = _role_patch(name, description, permissions)
    path = org_path(org_id, "roles", role_id)
    return Call("PATCH", path, written_as(Role.of), json=body, token=token)


def preview_role_update(
    token: str,
    org_id: str,
    role_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: Sequence[str] | None = None,
) -> Call[RolePreview]:
    """`update_role` as a dry run: what the edit would change for every holder of the role
    (gained and lost permissions); nothing is written."""
    body = _role_patch(name, description, permissions)
    path, query = org_path(org_id, "roles", role_id), {"dry_run": "true"}
    read = read_as(RolePreview.of)
    return Call("PATCH", path, read, json=body, token=token, params=query, read_only=True)


def _role_patch(
    name: str | None, description: str | None, permissions: Sequence[str] | None
) -> dict[str, Any]:
    listed = None if permissions is None else list(permissions)
    return given(name=name, description=description, permissions=listed)


def delete_role(token: str, org_id: str, role_id: str) -> Call[Written[None]]:
    """Its assignments end with it; members holding it as a team role become MEMBERs."""
    return Call("DELETE", org_path(org_id, "roles", role_id), written_nothing, token=token)


def assign_role(token: str, org_id: str, user_id: str, role_id: str) -> Call[Written[Assignment]]:
    """Give an ORGANISATION role to a member; giving one they hold changes nothing. The caller
    must hold every permission of the role, and nobody assigns roles to themselves."""
    path = org_path(org_id, "members", user_id, "roles", role_id)
    return Call("PUT", path, written_as(Assignment.of), token=token)


def unassign_role(token: str, org_id: str, user_id: str, role_id: str) -> Call[Written[None]]:
    path = org_path(org_id, "members", user_id, "roles", role_id)
    return Call("DELETE", path, written_nothing, token=token)


# --- teams ----------------------------------------------------------------------------------


def list_teams(
    token: str, org_id: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[Team]]:
    """The organisation's teams by creation time."""
    path, query = org_path(org_id, "teams"), paging(limit, cursor)
    return Call("GET", path, page_of(Team.of), token=token, params=query)


def create_team(
    token: str, org_id: str, name: str, *, description: str | None = None
) -> Call[Written[Team]]:
    """A new team has no members; its name is unique in the organisation, ignoring case."""
    body = {"name": name, **given(description=description)}
    return Call("POST", org_path(org_id, "teams"), written_as(Team.of), json=body, token=token)


def get_team(token: str, org_id: str, team_id: str) -> Call[Team]:
    return Call("GET", org_path(org_id, "teams", team_id), read_as(Team.of), token=token)


def update_team(
    token: str,
    org_id: str,
    team_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Call[Written[Team]]:
    body, path = given(name=name, description=description), org_path(org_id, "teams", team_id)
    return Call("PATCH", path, written_as(Team.of), json=body, token=token)


def delete_team(token: str, org_id: str, team_id: str) -> Call[Written[None]]:
    """Its memberships end with it."""
    return Call("DELETE", org_path(org_id, "teams", team_id), written_nothing, token=token)


def list_team_members(
    token: str, org_id: str, team_id: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[TeamMember]]:
    """The team's members by join time."""
    path, query = org_path(org_id, "teams", team_id, "members"), paging(limit, cursor)
    return Call("GET", path, page_of(TeamMember.of), token=token, params=query)


def add_team_member(
    token: str, org_id: str, team_id: str, user_id: str, team_role: str = "MEMBER"
) -> Call[Written[TeamMember]]:
    """`team_role` is `LEAD`, `MEMBER` or a TEAM role's id; the caller must hold, within the
    team, every permission it grants."""
    path = org_path(org_id, "teams", team_id, "members")
    body = {"user_id": user_id, "team_role": team_role}
    return Call("POST", path, written_as(TeamMember.of), json=body, token=token)


def change_team_role(
    token: str, org_id: str, team_id: str, user_id: str, team_role: str
) -> Call[Written[TeamMember]]:
    """Nobody changes their own team role."""
    path = org_path(org_id, "teams", team_id, "members", user_id)
    body = {"team_role": team_role}
    return Call("PATCH", path, written_as(TeamMember.of), json=body, token=token)


def remove_team_member(token: str, org_id: str, team_id: str, user_id: str) -> Call[Written[None]]:
    """Remove a member from the team, or leave it (the caller's own `user_id`)."""
    path = org_path(org_id, "teams", team_id, "members", user_id)
    return Call("DELETE", path, written_nothing, token=token)
