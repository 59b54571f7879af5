"""Organisations on DynamoDB: `ORG#{id}`/`PROFILE`, and `SLUG#{slug}`/`UNIQUE` holding the one
organisation with that slug (kept when it is deleted: a slug stays taken). Settings are kept as
JSON text, so that a number reads back exactly as it was written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Organisation, OrgStatus
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
    created = codec.moment(item["created_at"])
    assert created is not None  # every organisation item has one
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
