"""Organisations and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.model import Membership, MemberView, Organisation


class OrganisationsRepository(Protocol):
    def get(self, org_id: str) -> Organisation | None: ...
    def add(self, org: Organisation) -> None:
        """Precondition: the slug is free (`Conflict` code `slug_taken`)."""

    def update(self, org: Organisation, *, expected_version: int) -> None:
        """Write name, settings, status, provisioning fields, deleted_at and version.

        Precondition: the stored version is still `expected_version`, i.e. nobody changed the
        organisation since it was read (`Conflict` `organisation_changed`).
        """

    def list_for_user(self, user_id: str) -> list[tuple[Organisation, Membership]]:
        """The user's active memberships with their (not deleted) organisations."""


@dataclass(frozen=True, slots=True)
class MemberCursor:
    joined_at: datetime
    user_id: str


class MembershipsRepository(Protocol):
    def get(self, org_id: str, user_id: str) -> Membership | None: ...
    def add(self, membership: Membership) -> None:
        """Precondition: no membership row for (org, user) (`Conflict` `already_member`)."""

    def end_all(self, org_id: str, at: datetime) -> int: ...
    def list_members(
        self, org_id: str, *, limit: int, after: MemberCursor | None
    ) -> list[MemberView]: ...
