"""Organisations and memberships on DynamoDB.

An organisation is `ORG#{id}`/`PROFILE`, and `SLUG#{slug}`/`UNIQUE` holds the one organisation
with that slug (kept when it is deleted: a slug stays taken). Settings are kept as JSON text,
so that a number reads back exactly as it was written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Membership, MembershipStatus, Organisation, OrgStatus, Page
from tenantry.domain.roles import OrgRole
from tenantry.store.cursor import (
    MEMBERS,
    MEMBERSHIPS,
    decode_cursor,
    member_position,
    membership_position,
    page_of,
)
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoOrganisations:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str) -> Organisation | None:
        found = self._reads.get(keys.organisation(org_id))
        return _organisation(found) if found is not None else None

    def get_many(self, org_ids: Sequence[str]) -> list[Organisation]:
        found = self._reads.get_many([keys.organisation(org_id) for org_id in set(org_ids)])
        return [_organisation(item) for item in found]

    def get_id_by_slug(self, slug: str) -> str | None:
        holder = self._reads.get(keys.slug(slug))
        return str(holder["org_id"]) if holder is not None else None

    def add(self, org: Organisation) -> None:
        self._writes.put(keys.organisation(org.id), _attributes(org), code="slug_taken")
        self._writes.put(keys.slug(org.slug), {"org_id": org.id}, code="slug_taken")

    def update(
        self,
        org: Organisation,
        *,
        expected_version: int,
        on_conflict: TenantryError | None = None,
    ) -> None:
        changed = _attributes(org)
        for kept in ("entity", "id", "slug", "created_at", "created_by", "authz_epoch"):
            changed.pop(kept)
        self._writes.update(
            keys.organisation(org.id),
            changed,
            expect={"version": expected_version},
            code="organisation_changed",
            on_conflict=on_conflict,
        )

    def bump_authz_epoch(
        self, org_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.update(
            keys.organisation(org_id),
            {"authz_epoch": expected + 1},
            expect={"authz_epoch": expected},
            code="access_changed",
            on_conflict=on_conflict,
        )


def _attributes(org: Organisation) -> dict[str, Any]:
    return {
        "entity": "organisation",
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "status": org.status.value,
        "settings": json.dumps(org.settings, separators=(",", ":")),
        "authz_epoch": org.authz_epoch,
        "version": org.version,
        "created_at": org.created_at,
        "created_by": org.created_by,
        "provisioning_step": org.provisioning_step,
        "provisioning_error": org.provisioning_error,
        "provisioning_workflow_id": org.provisioning_workflow_id,
        "provisioning_run_id": org.provisioning_run_id,
        "deleted_at": org.deleted_at,
        "status_changed_at": org.status_changed_at,
    }


def _organisation(item: dict[str, Any]) -> Organisation:
    created = codec.required_moment(item["created_at"])
    return Organisation(
        id=item["id"],
        slug=item["slug"],
        name=item["name"],
        status=OrgStatus(item["status"]),
        created_at=created,
        created_by=item["created_by"],
        settings=json.loads(item["settings"]),
        authz_epoch=item.get("authz_epoch", 0),
        version=item.get("version", 0),
        provisioning_step=item.get("provisioning_step"),
        provisioning_error=item.get("provisioning_error"),
        provisioning_workflow_id=item.get("provisioning_workflow_id"),
        provisioning_run_id=item.get("provisioning_run_id"),
        deleted_at=codec.moment(item.get("deleted_at")),
        status_changed_at=codec.moment(item.get("status_changed_at")),
    )


class DynamoMemberships:
    """`ORG#{org}`/`MEMBER#{user}`, in its user's list (GSI1) and its organisation's member
    list (GSI2), both by join time. A list shows ACTIVE members only: ended ones are read and
    passed over, and a page reads on until it has its items."""

    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str, user_id: str) -> Membership | None:
        found = self._reads.get(keys.membership(org_id, user_id))
        return _membership(found) if found is not None else None

    def add(self, membership: Membership) -> None:
        key = keys.membership(membership.org_id, membership.user_id)
        self._writes.put(key, _membership_attributes(membership), code="already_member")

    def require_active(
        self, org_id: str, user_id: str, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.check(
            keys.membership(org_id, user_id),
            expect={"status": MembershipStatus.ACTIVE.value},
            code="membership_changed",
            on_conflict=on_conflict,
        )

    def update(self, membership: Membership, *, on_conflict: TenantryError | None = None) -> None:
        self._writes.update(
            keys.membership(membership.org_id, membership.user_id),
            {
                "org_role": membership.org_role.value,
                "status": membership.status.value,
                "ended_at": membership.ended_at,
            },
            expect={"status": MembershipStatus.ACTIVE.value},
            code="membership_changed",
            on_conflict=on_conflict,
        )

    def rejoin(self, membership: Membership) -> None:
        rejoined = replace(membership, status=MembershipStatus.ACTIVE, ended_at=None)
        changed = _membership_attributes(rejoined)
        for kept in ("entity", "org_id", "user_id"):
            changed.pop(kept)
        self._writes.update(
            keys.membership(membership.org_id, membership.user_id),
            {**changed, "ended_at": None},
            expect={"status": MembershipStatus.ENDED.value},
            code="membership_changed",
        )

    def list_with_role(self, org_id: str, org_role: OrgRole) -> list[Membership]:
        # The main table, strongly consistent: the last-owner checks decide on this list.
        found = self._reads.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {"pk": f"ORG#{org_id}", "prefix": keys.MEMBER_PREFIX},
            keep=lambda item: item["org_role"] == org_role.value and _active(item),
        )
        return sorted((_membership(item) for item in found), key=member_position)

    def list_for_user(self, user_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        after = decode_cursor(cursor, kind=MEMBERSHIPS) if cursor is not None else None
        start = keys.MEMBERSHIP_PREFIX
        if after is not None:
            start += f"{keys.sortable(after[0])}#{after[1]}"
        found = self._reads.query(
            "GSI1PK = :pk AND GSI1SK BETWEEN :start AND :end",
            {
                "pk": f"USER#{user_id}",
                "start": start,
                "end": keys.after_prefix(keys.MEMBERSHIP_PREFIX),
            },
            index="GSI1",
            keep=lambda item: _active(item) and item["GSI1SK"] != start,
            wanted=limit + 1,
        )
        listed = [_membership(item) for item in found]
        return page_of(listed, limit=limit, position=membership_position, kind=MEMBERSHIPS)

    def list_joined_as_owner_since(
        self, user_id: str, *, since: datetime, limit: int
    ) -> list[Membership]:
        found = self._reads.query(
            "GSI1PK = :pk AND GSI1SK BETWEEN :start AND :end",
            {
                "pk": f"USER#{user_id}",
                "start": keys.MEMBERSHIP_PREFIX + keys.sortable(since),
                "end": keys.after_prefix(keys.MEMBERSHIP_PREFIX),
            },
            index="GSI1",
            keep=lambda item: item["org_role"] == OrgRole.OWNER.value,
            wanted=limit,
        )
        return [_membership(item) for item in found]

    def list_members(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Membership]:
        after = decode_cursor(cursor, kind=MEMBERS) if cursor is not None else None
        start = f"{keys.sortable(after[0])}#{after[1]}" if after is not None else ""
        condition = "GSI2PK = :pk AND GSI2SK > :start" if after else "GSI2PK = :pk"
        values = {"pk": f"ORG#{org_id}#MEMBERS", **({"start": start} if after else {})}
        found = self._reads.query(condition, values, index="GSI2", keep=_active, wanted=limit + 1)
        members = [_membership(item) for item in found]
        return page_of(members, limit=limit, position=member_position, kind=MEMBERS)


def _active(item: dict[str, Any]) -> bool:
    return bool(item["status"] == MembershipStatus.ACTIVE.value)


def _membership_attributes(membership: Membership) -> dict[str, Any]:
    return {
        "entity": "membership",
        "org_id": membership.org_id,
        "user_id": membership.user_id,
        "org_role": membership.org_role.value,
        "status": membership.status.value,
        "joined_at": membership.joined_at,
        "ended_at": membership.ended_at,
        "email": membership.email,
        "name": membership.name,
        **keys.membership_indexes(membership.org_id, membership.user_id, membership.joined_at),
    }


def _membership(item: dict[str, Any]) -> Membership:
    joined = codec.required_moment(item["joined_at"])
    return Membership(
        org_id=item["org_id"],
        user_id=item["user_id"],
        org_role=OrgRole(item["org_role"]),
        status=MembershipStatus(item["status"]),
        joined_at=joined,
        ended_at=codec.moment(item.get("ended_at")),
        email=item.get("email", ""),
        name=item.get("name", ""),
    )
