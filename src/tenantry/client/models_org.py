"""The wire shapes of an organisation and its access model: the organisation, its members
and their effective permissions, custom roles (and a dry run's preview), teams and their
members. Field names are the server's (`organisations/`, `members/`, `roles/`, `teams/`
schemas)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenantry.client.models import Body, maybe_moment, moment


@dataclass(frozen=True)
class Organisation:
    id: str
    slug: str  # never changes, and stays taken after a delete
    name: str
    status: str  # `PROVISIONING`, `ACTIVE` or `FAILED`
    settings: dict[str, Any]
    created_at: datetime
    provisioning_step: str | None  # the step that failed, when `status` is `FAILED`
    provisioning_error: str | None
    provisioning_workflow_id: str | None  # on Temporal: the workflow provisioning it
    provisioning_run_id: str | None

    @classmethod
    def of(cls, body: Body) -> Organisation:
        return cls(**_organisation_fields(body))


def _organisation_fields(body: Body) -> dict[str, Any]:
    return {
        "id": body["id"],
        "slug": body["slug"],
        "name": body["name"],
        "status": body["status"],
        "settings": dict(body.get("settings") or {}),
        "created_at": moment(body["created_at"]),
        "provisioning_step": body.get("provisioning_step"),
        "provisioning_error": body.get("provisioning_error"),
        "provisioning_workflow_id": body.get("provisioning_workflow_id"),
        "provisioning_run_id": body.get("provisioning_run_id"),
    }


@dataclass(frozen=True)
class MyOrganisation(Organisation):
    """One of the caller's organisations, with the caller's role in it."""

    org_role: str

    @classmethod
    def of(cls, body: Body) -> MyOrganisation:
        return cls(**_organisation_fields(body), org_role=body["org_role"])


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str  # as it was when they joined
    name: str
    org_role: str  # `OWNER`, `ADMIN` or `MEMBER`
    status: str  # `ACTIVE`, or `ENDED`
    joined_at: datetime

    @classmethod
    def of(cls, body: Body) -> Member:
        return cls(
            user_id=body["user_id"],
            email=body["email"],
            name=body["name"],
            org_role=body["org_role"],
            status=body["status"],
            joined_at=moment(body["joined_at"]),
        )


@dataclass(frozen=True)
class HeldPermission:
    """A permission or pattern a member holds, and where it comes from (`grant`:
    `org_role:ADMIN`, `role:rol_…(Name)`, `team:team_…/LEAD`, `team:team_…/rol_…(Name)`)."""

    permission: str
    grant: str
    team_id: str | None  # the team it is limited to; None: organisation-wide

    @classmethod
    def of(cls, body: Body) -> HeldPermission:
        return cls(body["permission"], body["grant"], body.get("team_id"))


@dataclass(frozen=True)
class MemberPermissions:
    """A member's effective permissions, organisation-wide ones first, most specific first."""

    user_id: str
    organisation_id: str
    org_role: str | None
    team_ids: tuple[str, ...]
    epoch: int  # the organisation's authz epoch the answer was read at
    permissions: tuple[HeldPermission, ...]

    @classmethod
    def of(cls, body: Body) -> MemberPermissions:
        return cls(
            user_id=body["user_id"],
            organisation_id=body["organisation_id"],
            org_role=body.get("org_role"),
            team_ids=tuple(body["team_ids"]),
            epoch=int(body["epoch"]),
            permissions=tuple(HeldPermission.of(p) for p in body["permissions"]),
        )


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    description: str
    permissions: tuple[str, ...]
    scope: str  # `ORGANISATION` or `TEAM`
    created_at: datetime
    updated_at: datetime | None  # None: never edited

    @classmethod
    def of(cls, body: Body) -> Role:
        return cls(
            id=body["id"],
            name=body["name"],
            description=body["description"],
            permissions=tuple(body["permissions"]),
            scope=body["scope"],
            created_at=moment(body["created_at"]),
            updated_at=maybe_moment(body.get("updated_at")),
        )


@dataclass(frozen=True)
class AccessChange:
    """What a role edit would change for one holder (in one team, for a TEAM role)."""

    user_id: str
    team_id: str | None
    gained: tuple[str, ...]
    lost: tuple[str, ...]

    @classmethod
    def of(cls, body: Body) -> AccessChange:
        return cls(
            user_id=body["user_id"],
            team_id=body.get("team_id"),
            gained=tuple(body["gained"]),
            lost=tuple(body["lost"]),
        )


@dataclass(frozen=True)
class RolePreview:
    """A dry run's answer: the role as the edit would save it; nothing was written."""

    dry_run: bool
    role: Role
    changes: tuple[AccessChange, ...]

    @classmethod
    def of(cls, body: Body) -> RolePreview:
        return cls(
            dry_run=bool(body["dry_run"]),
            role=Role.of(body["role"]),
            changes=tuple(AccessChange.of(c) for c in body["changes"]),
        )


@dataclass(frozen=True)
class Assignment:
    user_id: str
    role_id: str
    assigned_at: datetime
    assigned_by: str  # a user id, or `system`

    @classmethod
    def of(cls, body: Body) -> Assignment:
        return cls(
            user_id=body["user_id"],
            role_id=body["role_id"],
            assigned_at=moment(body["assigned_at"]),
            assigned_by=body["assigned_by"],
        )


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    description: str
    member_count: int
    created_at: datetime

    @classmethod
    def of(cls, body: Body) -> Team:
        return cls(
            id=body["id"],
            name=body["name"],
            description=body["description"],
            member_count=int(body["member_count"]),
            created_at=moment(body["created_at"]),
        )


@dataclass(frozen=True)
class TeamMember:
    user_id: str
    email: str  # as it was when they joined the organisation
    name: str
    team_role: str  # `LEAD`, `MEMBER`, or a TEAM-scoped role's id
    joined_at: datetime

    @classmethod
    def of(cls, body: Body) -> TeamMember:
        return cls(
            user_id=body["user_id"],
            email=body["email"],
            name=body["name"],
            team_role=body["team_role"],
            joined_at=moment(body["joined_at"]),
        )
