"""The workflow cases of seeds/004, on both provisioning engines (`TENANTRY_WORKFLOWS=inline`
and `temporal`, the latter on a real Temporal dev server with a worker in this process):

- `test_tenant_provisioning_failure_marks_failed`: a step that fails for good leaves the
  organisation FAILED naming the step and the error, the steps before it compensated, the
  change audited and the authorization epoch bumped; the same result on both engines.
- `test_registration_rollback_on_workflow_failure`: the seed rolls a user back when its
  workflow cannot start. tenantry writes the organisation and its "start provisioning" job in
  one transaction, so there is nothing to roll back after the commit (a start that fails then
  stays queued: `test_provisioning_temporal`, `test_provisioning_jobs`); what must roll back
  is a registration whose transaction fails, and then no organisation, membership, job or
  workflow is left, and the slug is free.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from temporalio.client import Client

from tenantry.bootstrap import Tenantry
from tenantry.domain.model import OrgStatus
from tenantry.flows.temporal.worker import ProvisioningWorker, provisioning_worker
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.store.sql.jobs import jobs
from tests.access_builders import stored_epoch
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    actions,
    audit_events,
    build_tenantry,
    privileged,
    test_settings,
    unique_slug,
)
from tests.integration.test_provisioning import (
    BillingAccountStep,
    DefaultSettingsStep,
    commit_refusing_trigger,
)
from tests.integration.test_provisioning_temporal import workflow_result
from tests.org_builders import (
    membership_rows_of,
    organisation_rows_with_slug,
    register_org,
    row_counts,
    stored_organisation,
)
from tests.smtp_server import SmtpServer
from tests.temporal_server import TemporalServer

ENGINES = ["inline", "temporal"]


@dataclass
class Engine:
    """An API on one provisioning engine; `settled` waits for an organisation's provisioning."""

    name: str
    api: Api
    server: TemporalServer | None

    def settled(self, org_id: str) -> None:
        if self.server is not None:  # inline provisioning is over when the request answers
            workflow_result(self.server, org_id)

    def workflows_started(self) -> int:
        """How many workflows were started on this API's own task queue (0 inline)."""
        if self.server is None:
            return 0
        server, queue = self.server, self.api.tenantry.settings.temporal_task_queue

        async def count() -> int:
            client = await Client.connect(server.address, namespace=server.namespace)
            listed = client.list_workflows(f'TaskQueue = "{queue}"')
            return len([run async for run in listed])

        return asyncio.run(count())


@pytest.fixture(params=ENGINES)
def engine(
    request: pytest.FixtureRequest,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
) -> Iterator[Engine]:
    steps: list[ProvisioningStep] = [DefaultSettingsStep(), BillingAccountStep()]
    server: TemporalServer | None = None
    options = {}
    if request.param == "temporal":
        server = request.getfixturevalue("temporal_server")
        options = {
            "workflows": "temporal",
            "temporal_address": server.address,
            "temporal_task_queue": f"tenantry-seed-{secrets.token_hex(4)}",
            "temporal_step_attempts": 2,
        }
    settings = test_settings(store_target, tmp_path, **options)
    tenantry = build_tenantry(settings, clock, smtp_server, provisioning_steps=steps)
    worker = provisioning_worker(tenantry) if server is not None else None
    if worker is not None:
        worker.start()
    try:
        yield Engine(request.param, Api(tenantry, Mailbox(tenantry, smtp_server)), server)
    finally:
        _stop(worker, tenantry)


def _stop(worker: ProvisioningWorker | None, tenantry: Tenantry) -> None:
    if worker is not None:
        worker.stop()
    tenantry.close()


def test_tenant_provisioning_failure_marks_failed(
    engine: Engine, store_target: StoreTarget
) -> None:
    api = engine.api
    owner = api.verified_account()

    created = register_org(api, owner, unique_slug())
    org_id = created.json()["id"]
    engine.settled(org_id)

    assert created.status_code == 201, created.text
    owner = api.switch_org(owner, org_id)
    shown = api.client.get(f"/v1/organisations/{org_id}", headers=owner.auth).json()
    assert (shown["status"], shown["settings"]) == ("FAILED", {})  # the first step undone
    assert shown["provisioning_step"] == "billing_account"
    assert shown["provisioning_error"] == "BillingUnavailable (details are in the service log)"
    stored = stored_organisation(api.tenantry, org_id)
    assert stored is not None
    assert (stored.status, stored.provisioning_step) == (OrgStatus.FAILED, "billing_account")
    assert stored_epoch(api.tenantry, org_id) >= 1  # a status change is an access change
    provisioned = audit_events(store_target, org_id=org_id, action="organisation.provisioned")
    assert [(e.outcome.value, e.reason, e.details) for e in provisioned] == [
        (
            "FAILURE",
            "billing_account",
            {"step": "billing_account", "error": shown["provisioning_error"]},
        )
    ]


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)  # needs deferred triggers
def test_registration_rollback_on_workflow_failure(
    engine: Engine, store_target: StoreTarget
) -> None:
    api = engine.api
    owner = api.verified_account()
    slug = unique_slug("failcommit")
    before = (row_counts(store_target), _job_rows(store_target))

    with commit_refusing_trigger(store_target):
        refused = register_org(api, owner, slug)

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "commit_failed"
    assert organisation_rows_with_slug(store_target, slug) == []
    assert membership_rows_of(store_target, owner.user_id) == []
    assert (row_counts(store_target), _job_rows(store_target)) == before  # no job queued
    assert engine.workflows_started() == 0
    failures = audit_events(
        store_target, org_id=None, actor_id=owner.user_id, action="transaction.commit"
    )
    assert [(e.outcome.value, e.reason) for e in failures] == [("FAILURE", "commit_failed")]

    again = register_org(api, owner, slug)  # the slug is free: nothing was left behind
    engine.settled(again.json()["id"])

    assert again.status_code == 201, again.text
    assert engine.workflows_started() == (1 if engine.server is not None else 0)
    assert actions(
        audit_events(store_target, org_id=again.json()["id"], action="organisation.create")
    ) == [("organisation.create", "SUCCESS")]


def _job_rows(target: StoreTarget) -> int:
    with privileged(target) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(jobs)) or 0
