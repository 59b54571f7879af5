"""Organisations and memberships in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Membership, MembershipStatus, Organisation, Page
from tenantry.domain.roles import OrgRole
from tenantry.store.cursor import (
    MEMBERS,
    MEMBERSHIPS,
    decode_cursor,
    member_position,
    membership_position,
    page_of,
)
from tenantry.store.memory.cursor import follows
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _organisations(state: MemoryState) -> dict[str, Organisation]:
    return state.organisations


def _memberships(state: MemoryState) -> dict[tuple[str, str], Membership]:
    return state.memberships


class MemoryOrganisations:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _organisations)

    def get(self, org_id: str) -> Organisation | None:
        return self._table.get(org_id)

    def get_many(self, org_ids: Sequence[str]) -> list[Organisation]:
        wanted = set(org_ids)
        return self._table.select(lambda org: org.id in wanted)

    def get_id_by_slug(self, slug: str) -> str | None:
        found = self._table.select(lambda org: org.slug == slug)
        return found[0].id if found else None

    def add(self, org: Organisation) -> None:
        # Deleted organisations keep their slug, as their SQL rows do.
        self._table.insert(org.id, org, code="slug_taken", unique=lambda other: other.slug)

    def update(
        self,
        org: Organisation,
        *,
        expected_version: int,
        on_conflict: TenantryError | None = None,
    ) -> None:
        self._table.update(
            org.id,
            lambda stored: replace(org, authz_epoch=stored.authz_epoch),
            precondition=lambda stored: stored.version == expected_version,
            code="organisation_changed",
            on_conflict=on_conflict,
        )

    def bump_authz_epoch(
        self, org_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        self._table.update(
            org_id,
            lambda stored: replace(stored, authz_epoch=expected + 1),
            precondition=lambda stored: stored.authz_epoch == expected,
            code="access_changed",
            on_conflict=on_conflict,
        )


def _is_active(membership: Membership) -> bool:
    return membership.status == MembershipStatus.ACTIVE


def _has_ended(membership: Membership) -> bool:
    return membership.status == MembershipStatus.ENDED


class MemoryMemberships:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _memberships)

    def get(self, org_id: str, user_id: str) -> Membership | None:
        return self._table.get((org_id, user_id))

    def add(self, membership: Membership) -> None:
        key = (membership.org_id, membership.user_id)
        self._table.insert(key, membership, code="already_member")

    def require_active(
        self, org_id: str, user_id: str, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._table.require(
            (org_id, user_id), _is_active, code="membership_changed", on_conflict=on_conflict
        )

    def update(self, membership: Membership, *, on_conflict: TenantryError | None = None) -> None:
        def revised(stored: Membership) -> Membership:
            return replace(
                stored,
                org_role=membership.org_role,
                status=membership.status,
                ended_at=membership.ended_at,
            )

        self._table.update(
            (membership.org_id, membership.user_id),
            revised,
            precondition=_is_active,
            code="membership_changed",
            on_conflict=on_conflict,
        )

    def rejoin(self, membership: Membership) -> None:
        rejoined = replace(membership, status=MembershipStatus.ACTIVE, ended_at=None)
        self._table.update(
            (membership.org_id, membership.user_id),
            lambda _former: rejoined,
            precondition=_has_ended,
            code="membership_changed",
        )

    def list_with_role(self, org_id: str, org_role: OrgRole) -> list[Membership]:
        found = self._table.select(
            lambda m: m.org_id == org_id and m.org_role is org_role and _is_active(m)
        )
        return sorted(found, key=member_position)

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        after = decode_cursor(cursor, kind=MEMBERSHIPS) if cursor is not None else None
        found = self._table.select(
            lambda m: (
                m.user_id == user_id and _is_active(m) and follows(membership_position(m), after)
            )
        )
        listed = sorted(found, key=membership_position)
        return page_of(listed, limit=limit, position=membership_position, kind=MEMBERSHIPS)

    def list_joined_as_owner_since(
        self, user_id: str, *, since: datetime, limit: int
    ) -> list[Membership]:
        found = self._table.select(
            lambda m: m.user_id == user_id and m.org_role is OrgRole.OWNER and m.joined_at >= since
        )
        return sorted(found, key=membership_position)[:limit]

    def list_members(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        after = decode_cursor(cursor, kind=MEMBERS) if cursor is not None else None
        found = self._table.select(
            lambda m: m.org_id == org_id and _is_active(m) and follows(member_position(m), after)
        )
        members = sorted(found, key=member_position)
        return page_of(members, limit=limit, position=member_position, kind=MEMBERS)
