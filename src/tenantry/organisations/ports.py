"""Organisations and memberships, as reads a single-table store can serve.

A membership carries its user's email and name (denormalised at join time), so a member list
is one query on one partition; a user's organisations are their memberships, then one batch
read of the organisations. Cursors are opaque strings made by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Membership, Organisation, Page
from tenantry.domain.roles import OrgRole


class OrganisationsRepository(Protocol):
    def get(self, org_id: str) -> Organisation | None: ...
    def get_many(self, org_ids: Sequence[str]) -> list[Organisation]:
        """Those of `org_ids` that exist, in no promised order."""

    def get_id_by_slug(self, slug: str) -> str | None:
        """The id of the organisation with this slug, deleted ones too (a slug stays taken).

        Only the id, and no tenant scope needed: an operator names an organisation by its
        slug before anything is bound (on PostgreSQL, row-level security hides every
        organisation until then); the caller binds the id and reads the organisation."""

    def add(self, org: Organisation) -> None:
        """Precondition: the slug is free (`Conflict` code `slug_taken`)."""

    def update(
        self,
        org: Organisation,
        *,
        expected_version: int,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Write name, settings, status, provisioning fields, deleted_at and version, never
        `authz_epoch` (only `bump_authz_epoch` moves it, so an update cannot undo a bump).

        Precondition: the stored version is still `expected_version`, i.e. nobody changed the
        organisation since it was read (`Conflict` `organisation_changed`).
        """

    def bump_authz_epoch(
        self, org_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        """Set `authz_epoch` to `expected + 1`.

        Precondition: the stored epoch is still `expected` (`Conflict` `access_changed`).
        Every change to the access model makes this write, so two changes decided on the same
        reads of one organisation's access can never both commit.
        """


class MembershipsRepository(Protocol):
    def get(self, org_id: str, user_id: str) -> Membership | None: ...
    def add(self, membership: Membership) -> None:
        """Precondition: no membership row for (org, user) (`Conflict` `already_member`)."""

    def require_active(
        self, org_id: str, user_id: str, *, on_conflict: TenantryError | None = None
    ) -> None:
        """A condition check: the membership is still ACTIVE at commit
        (`Conflict` `membership_changed`)."""

    def update(self, membership: Membership, *, on_conflict: TenantryError | None = None) -> None:
        """Write org_role, status and ended_at.

        Precondition: the stored membership is ACTIVE (`Conflict` `membership_changed`)."""

    def rejoin(self, membership: Membership) -> None:
        """Make a former member a member again in the row their membership kept: write
        org_role, joined_at, email and name, with status ACTIVE and no ended_at.

        Precondition: the stored membership exists and is ENDED (`Conflict`
        `membership_changed`)."""

    def list_with_role(self, org_id: str, org_role: OrgRole) -> list[Membership]:
        """The ACTIVE members holding `org_role`, by join time, then user id."""

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        """The user's ACTIVE memberships, whatever their organisations' status, by join time,
        then organisation id. `cursor` is a `next_cursor` this store returned for such a list;
        anything else is `Invalid` `invalid_cursor`."""

    def list_joined_as_owner_since(
        self, user_id: str, *, since: datetime, limit: int
    ) -> list[Membership]:
        """The user's OWNER memberships that began at or after `since`, whatever their status
        or their organisation's, oldest first (by join time, then organisation id), at most
        `limit`: registering an organisation is how a user becomes one's OWNER."""

    def list_members(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        """ACTIVE members by join time, then user id. `cursor` is a `next_cursor` this store
        returned for the same organisation; anything else is `Invalid` `invalid_cursor`."""
