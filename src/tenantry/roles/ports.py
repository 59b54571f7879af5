"""Custom roles and their assignments, as reads a single-table store can serve: all of one
organisation's roles are one partition (capped at `MAX_ROLES_PER_ORG`), a member's assignments
another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.roles import Role, RoleAssignment


class RolesRepository(Protocol):
    def get(self, org_id: str, role_id: str) -> Role | None: ...
    def get_many(self, org_id: str, role_ids: Sequence[str]) -> list[Role]:
        """Those of `role_ids` that exist in the organisation, in no promised order."""

    def list(self, org_id: str) -> list[Role]:
        """Every custom role of the organisation, by name (case-insensitive), then id."""

    def add(self, role: Role) -> None:
        """Precondition: no role of the organisation has the same name, ignoring case
        (`Conflict` `role_name_taken`)."""

    def update(self, role: Role, *, on_conflict: TenantryError | None = None) -> None:
        """Write name, description, permissions and updated_at.

        Preconditions: the role exists (`Conflict` `role_changed`), and its new name is not
        another role's (`Conflict` `role_name_taken`)."""

    def delete(self, org_id: str, role_id: str) -> None:
        """Precondition: the role exists (`Conflict` `role_changed`)."""


class RoleAssignmentsRepository(Protocol):
    def list_for_member(self, org_id: str, user_id: str) -> list[RoleAssignment]:
        """The member's assignments, by assignment time, then role id."""

    def list_for_role(self, org_id: str, role_id: str) -> list[RoleAssignment]:
        """Who holds the role, by assignment time, then user id."""

    def add(self, assignment: RoleAssignment) -> None:
        """Precondition: the member does not hold the role yet (`Conflict`
        `role_already_assigned`)."""

    def remove(self, org_id: str, user_id: str, role_id: str) -> None:
        """Precondition: the member holds the role (`Conflict` `role_not_assigned`)."""

    def end_all_for_role(self, org_id: str, role_id: str) -> None:
        """End every assignment of the role this unit of work deletes, however many. A store
        may remove them after the commit (DynamoDB: one transaction holds 100 items), so from
        the commit on `list_for_member` leaves out an assignment of a role that is gone (the
        other reads are of a role the caller has found)."""
