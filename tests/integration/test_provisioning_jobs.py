"""Provisioning starts from a job written with the organisation: at once by the request that
registered it, and by the relay if that process died first; never twice."""

from __future__ import annotations

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import Outcome
from tenantry.domain.model import Job, JobStatus, Organisation, OrgStatus
from tenantry.domain.organisations import PROVISIONING_START_GRACE, provisioning_job_id
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.organisations.service import register_organisation
from tests.harness import (
    ON_EVERY_STORE_USED,
    Account,
    Api,
    StoreTarget,
    TestClock,
    actions,
    audit_events,
    unique_slug,
)
from tests.org_builders import stored_organisation

pytestmark = ON_EVERY_STORE_USED


def registered_only(api: Api, owner: Account) -> Organisation:
    """The registration commits, then its process dies before starting the job."""
    tenantry = api.tenantry
    return run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: register_organisation(
            uow,
            tenantry.deps,
            Principal(owner.user_id),
            owner_id=owner.user_id,
            name="Orphan",
            slug=unique_slug("orphan"),
        ),
        clock=tenantry.clock,
    )


def stored_job(tenantry: Tenantry, job_id: str) -> Job:
    with tenantry.store.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
    assert job is not None
    return job


def provisioning_events(target: StoreTarget, org_id: str) -> list[tuple[str, str]]:
    return actions(audit_events(target, org_id=org_id, action="organisation.provisioned"))


def test_a_registration_writes_its_provisioning_job_and_runs_it_at_once(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    owner = api.verified_account()

    created = api.client.post(
        "/v1/organisations", json={"name": "Acme", "slug": unique_slug()}, headers=owner.auth
    )

    assert created.status_code == 201, created.text
    assert created.json()["status"] == "ACTIVE"
    org = stored_organisation(api.tenantry, created.json()["id"])
    assert org is not None
    job = stored_job(api.tenantry, f"provision:{org.id}:0")
    assert (job.status, job.subject_id, job.actor_id) == (JobStatus.DONE, org.id, owner.user_id)
    assert job.finished_at == clock.now()
    assert provisioning_events(store_target, org.id) == [("organisation.provisioned", "SUCCESS")]


def test_a_job_its_process_never_started_is_run_by_the_relay_after_the_grace(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    org = registered_only(api, api.verified_account())
    job_id = provisioning_job_id(org)

    api.tenantry.jobs.run_due(limit=1000)
    too_soon = stored_job(api.tenantry, job_id)
    clock.advance(PROVISIONING_START_GRACE)
    api.tenantry.jobs.run_due(limit=1000)
    api.tenantry.jobs.run_due(limit=1000)  # done is done

    assert too_soon.status is JobStatus.PENDING
    stored = stored_organisation(api.tenantry, org.id)
    assert stored is not None
    assert stored.status is OrgStatus.ACTIVE
    assert stored_job(api.tenantry, job_id).status is JobStatus.DONE
    assert provisioning_events(store_target, org.id) == [("organisation.provisioned", "SUCCESS")]


def test_a_job_is_run_once_however_often_it_is_started(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    org = registered_only(api, api.verified_account())
    job_id = provisioning_job_id(org)

    first = api.tenantry.jobs.start(job_id)
    again = api.tenantry.jobs.start(job_id)
    clock.advance(PROVISIONING_START_GRACE * 20)
    api.tenantry.jobs.run_due(limit=1000)

    assert first is not None
    assert first.status is OrgStatus.ACTIVE
    assert again is None
    assert provisioning_events(store_target, org.id) == [("organisation.provisioned", "SUCCESS")]


def test_a_job_for_an_organisation_deleted_meanwhile_ends_without_provisioning(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    owner = api.verified_account()
    org = registered_only(api, owner)
    api.switch_org(owner, org.id)
    deleted = api.client.delete(f"/v1/organisations/{org.id}", headers=owner.auth)

    clock.advance(PROVISIONING_START_GRACE)
    api.tenantry.jobs.run_due(limit=1000)

    assert deleted.status_code == 204, deleted.text
    stored = stored_organisation(api.tenantry, org.id)
    assert stored is not None
    assert stored.status is OrgStatus.DELETED
    assert stored_job(api.tenantry, provisioning_job_id(org)).status is JobStatus.DONE
    assert provisioning_events(store_target, org.id) == []
    assert audit_events(store_target, org_id=org.id, outcome=Outcome.FAILURE) == []
