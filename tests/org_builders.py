"""Builders for organisation tests, and readers of what the store holds afterwards: through
tenantry's repositories (scoped as the service scopes them) or, to prove that nothing was
created anywhere, through the privileged URL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantry.bootstrap import Tenantry
from tenantry.domain.model import Membership, Organisation
from tenantry.store.sql.tables import audit_events, memberships, organisations
from tests.harness import Account, Api, StoreTarget, dynamo_rows, items_of, privileged


def register_org(api: Api, account: Account, slug: str, name: str = "Acme") -> Any:
    return api.client.post(
        "/v1/organisations", json={"name": name, "slug": slug}, headers=account.auth
    )


def patch_org(api: Api, account: Account, org_id: str, body: dict[str, Any]) -> Any:
    return api.client.patch(f"/v1/organisations/{org_id}", json=body, headers=account.auth)


def stored_organisation(tenantry: Tenantry, org_id: str) -> Organisation | None:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return uow.organisations.get(org_id)


def stored_membership(tenantry: Tenantry, org_id: str, user_id: str) -> Membership | None:
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        return uow.memberships.get(org_id, user_id)


def row_counts(target: StoreTarget) -> dict[str, int]:
    """How many organisations and memberships exist in the whole database."""
    if target.name == "dynamo":
        found = [item["entity"]["S"] for item in items_of(target.url, "organisation", "membership")]
        return {
            "organisations": found.count("organisation"),
            "memberships": found.count("membership"),
        }
    with privileged(target) as db:
        return {
            table.name: db.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in (organisations, memberships)
        }


def organisation_rows_with_slug(target: StoreTarget, slug: str) -> list[Any]:
    if target.name == "dynamo":
        return [row for row in dynamo_rows(target.url, "organisation") if row.slug == slug]
    with privileged(target) as db:
        return list(db.execute(sa.select(organisations).where(organisations.c.slug == slug)))


def membership_rows_of(target: StoreTarget, user_id: str) -> list[Any]:
    if target.name == "dynamo":
        return [row for row in dynamo_rows(target.url, "membership") if row.user_id == user_id]
    with privileged(target) as db:
        return list(db.execute(sa.select(memberships).where(memberships.c.user_id == user_id)))


def organisations_created_by(target: StoreTarget, user_id: str) -> list[Any]:
    """The user's `organisation.create` audit events, in any organisation."""
    if target.name == "dynamo":
        return [
            item
            for item in items_of(target.url, "audit_event")
            if item.get("actor_id", {}).get("S") == user_id
            and item["action"]["S"] == "organisation.create"
        ]
    column = audit_events.c
    with privileged(target) as db:
        return list(
            db.execute(
                sa.select(audit_events).where(
                    column.actor_id == user_id, column.action == "organisation.create"
                )
            )
        )
