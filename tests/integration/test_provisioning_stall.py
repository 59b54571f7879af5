"""A provisioning run whose process died stays PROVISIONING; after the lease it can be retried."""

from __future__ import annotations

from tenantry.domain.audit import Outcome
from tenantry.domain.organisations import PROVISIONING_LEASE
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.organisations.service import register_organisation
from tests.harness import Api, StoreTarget, TestClock, actions, audit_events, unique_slug
from tests.org_builders import stored_organisation


def test_a_stalled_provisioning_can_be_retried_once_its_lease_ran_out(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    owner = api.verified_account()
    tenantry = api.tenantry
    # The registration commits, then the process dies before any provisioning step runs.
    org = run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: register_organisation(
            uow,
            tenantry.deps,
            Principal(owner.user_id),
            owner_id=owner.user_id,
            name="Stalled",
            slug=unique_slug("stalled"),
        ),
        clock=clock,
    )
    api.switch_org(owner, org.id)  # tokens are issued for organisations still provisioning
    retry_url = f"/v1/organisations/{org.id}/provisioning/retry"

    too_early = api.client.post(retry_url, headers=owner.auth)
    clock.advance(seconds=PROVISIONING_LEASE.total_seconds())
    retried = api.client.post(retry_url, headers=owner.auth)

    assert too_early.status_code == 409
    assert too_early.json()["code"] == "provisioning_in_progress"
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "ACTIVE"
    stored = stored_organisation(tenantry, org.id)
    assert stored is not None
    assert (stored.status.value, stored.status_changed_at) == ("ACTIVE", clock.now())
    org_events = [e for e in audit_events(store_target, org_id=org.id) if e.resource_id == org.id]
    # Events of one instant have no order until the audit chain's `seq` lands: compare sorted.
    assert sorted(actions(org_events)) == [
        ("organisation.create", "SUCCESS"),
        ("organisation.provisioned", "SUCCESS"),
        ("organisation.provisioning_retry", "SUCCESS"),
    ]
    assert audit_events(store_target, org_id=org.id, outcome=Outcome.FAILURE) == []
