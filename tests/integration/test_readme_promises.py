"""What the README promises a user beyond the API table's own tests."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.domain.model import OrgStatus
from tenantry.store.sql.tables import organisations
from tests.harness import Api, StoreTarget, audit_events, privileged
from tests.integration.account_checks import assert_problem


def test_a_deleted_organisations_slug_stays_taken(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    deleted = api.client.delete(f"/v1/organisations/{org['id']}", headers=owner.auth)
    assert deleted.status_code == 204, deleted.text
    newcomer = api.verified_account()

    again = api.client.post(
        "/v1/organisations", json={"name": "Acme", "slug": org["slug"]}, headers=newcomer.auth
    )

    assert_problem(again, 409, "slug_taken")
    with privileged(store_target) as connection:
        rows = connection.execute(
            sa.select(organisations.c.id, organisations.c.status).where(
                organisations.c.slug == org["slug"]
            )
        ).all()
    assert [(row.id, row.status) for row in rows] == [(org["id"], OrgStatus.DELETED.value)]
    created = audit_events(store_target, org_id=org["id"], action="organisation.create")
    assert [event.actor_id for event in created] == [owner.user_id]
