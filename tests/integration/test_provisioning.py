"""Provisioning as a visible state machine, and registration that cannot commit (seeds/004):
a failing step marks the organisation FAILED with the steps before it compensated, a retry
makes it ACTIVE, and a registration whose COMMIT fails leaves no organisation behind."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tenantry.domain.audit import Outcome
from tenantry.domain.model import MembershipStatus, Organisation, OrgStatus
from tenantry.domain.organisations import revise
from tenantry.domain.roles import OrgRole
from tenantry.organisations.provisioning import ProvisioningStep
from tenantry.unit_of_work import UnitOfWork
from tests.harness import (
    Account,
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
from tests.org_builders import (
    membership_rows_of,
    organisation_rows_with_slug,
    organisations_created_by,
    register_org,
    row_counts,
    stored_membership,
    stored_organisation,
)
from tests.smtp_server import SmtpServer

# --- provisioning steps as a product would plug them in -----------------------------------


class DefaultSettingsStep:
    """Writes the plan defaults into the organisation's settings; compensating removes them."""

    name = "default_settings"
    defaults = {"plan": "trial", "seats": 5}

    def __init__(self) -> None:
        self.runs = 0
        self.compensations = 0

    def run(self, uow: UnitOfWork, org: Organisation) -> None:
        self.runs += 1
        settings = {**org.settings, **self.defaults}
        uow.organisations.update(revise(org, settings=settings), expected_version=org.version)

    def compensate(self, uow: UnitOfWork, org: Organisation) -> None:
        self.compensations += 1
        settings = {k: v for k, v in org.settings.items() if k not in self.defaults}
        uow.organisations.update(revise(org, settings=settings), expected_version=org.version)


class BillingUnavailable(Exception):
    pass


class BillingAccountStep:
    """Opens the billing account; the provider is down until the test says otherwise."""

    name = "billing_account"

    def __init__(self) -> None:
        self.provider_up = False

    def run(self, uow: UnitOfWork, org: Organisation) -> None:
        if not self.provider_up:
            raise BillingUnavailable("billing provider timed out at https://ops:hunter2@billing")

    def compensate(self, uow: UnitOfWork, org: Organisation) -> None:
        """Nothing to undo: the account is opened last."""


@pytest.fixture
def settings_step() -> DefaultSettingsStep:
    return DefaultSettingsStep()


@pytest.fixture
def billing_step() -> BillingAccountStep:
    return BillingAccountStep()


@pytest.fixture
def provisioning_api(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    settings_step: DefaultSettingsStep,
    billing_step: BillingAccountStep,
) -> Iterator[Api]:
    steps: list[ProvisioningStep] = [settings_step, billing_step]
    tenantry = build_tenantry(
        test_settings(store_target, tmp_path), clock, smtp_server, provisioning_steps=steps
    )
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()


def retry(api: Api, account: Account, org_id: str) -> Any:
    return api.client.post(f"/v1/organisations/{org_id}/provisioning/retry", headers=account.auth)


# --- a failing step, compensation and retry ---------------------------------------------------


def test_a_failed_step_marks_the_org_failed_compensates_and_a_retry_makes_it_active(
    provisioning_api: Api,
    store_target: StoreTarget,
    settings_step: DefaultSettingsStep,
    billing_step: BillingAccountStep,
) -> None:
    api = provisioning_api
    owner = api.verified_account()

    created = register_org(api, owner, unique_slug())

    assert created.status_code == 201, created.text
    org = created.json()
    assert (org["status"], org["settings"]) == ("FAILED", {})
    assert org["provisioning_step"] == "billing_account"
    # The exception's own text may hold hosts or secrets: members see its type only.
    assert org["provisioning_error"] == "BillingUnavailable (details are in the service log)"
    assert "hunter2" not in created.text
    assert (settings_step.runs, settings_step.compensations) == (1, 1)
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert (stored.status, stored.settings, stored.provisioning_step) == (
        OrgStatus.FAILED,
        {},
        "billing_account",
    )
    membership = stored_membership(api.tenantry, org["id"], owner.user_id)
    assert membership is not None
    assert (membership.org_role, membership.status) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    provisioned = audit_events(store_target, org_id=org["id"], action="organisation.provisioned")
    assert [(e.outcome.value, e.reason, e.details) for e in provisioned] == [
        (
            "FAILURE",
            "billing_account",
            {"step": "billing_account", "error": org["provisioning_error"]},
        )
    ]

    owner = api.switch_org(owner, org["id"])  # tokens are issued for a FAILED organisation
    unusable = api.client.patch(
        f"/v1/organisations/{org['id']}", json={"name": "Too soon"}, headers=owner.auth
    )
    assert unusable.status_code == 409, unusable.text
    assert unusable.json()["code"] == "organisation_not_active"

    still_down = retry(api, owner, org["id"])
    assert still_down.status_code == 200, still_down.text
    assert (still_down.json()["status"], still_down.json()["settings"]) == ("FAILED", {})
    assert (settings_step.runs, settings_step.compensations) == (2, 2)

    billing_step.provider_up = True
    recovered = retry(api, owner, org["id"])

    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "ACTIVE"
    assert recovered.json()["settings"] == DefaultSettingsStep.defaults
    assert recovered.json()["provisioning_step"] is None
    assert recovered.json()["provisioning_error"] is None
    assert (settings_step.runs, settings_step.compensations) == (3, 2)
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert (stored.status, stored.settings, stored.provisioning_error) == (
        OrgStatus.ACTIVE,
        DefaultSettingsStep.defaults,
        None,
    )
    trail = audit_events(store_target, org_id=org["id"], actor_id=owner.user_id)
    lifecycle = [a for a in actions(trail) if a[0].startswith("organisation.")]
    assert sorted(lifecycle) == sorted(
        [
            ("organisation.create", "SUCCESS"),
            ("organisation.provisioned", "FAILURE"),
            ("organisation.provisioning_retry", "SUCCESS"),
            ("organisation.provisioned", "FAILURE"),
            ("organisation.provisioning_retry", "SUCCESS"),
            ("organisation.provisioned", "SUCCESS"),
        ]
    )


def test_the_owner_lists_an_organisation_whose_provisioning_failed(
    provisioning_api: Api,
    store_target: StoreTarget,
    clock: TestClock,
    billing_step: BillingAccountStep,
) -> None:
    api = provisioning_api
    owner = api.verified_account()
    failed = register_org(api, owner, unique_slug("failed")).json()
    clock.advance(seconds=1)
    billing_step.provider_up = True
    active = register_org(api, owner, unique_slug("active")).json()
    assert (failed["status"], active["status"]) == ("FAILED", "ACTIVE")

    listed = api.client.get("/v1/organisations", headers=owner.auth)

    # The organisation's status and the membership's are two columns both named `status`.
    assert listed.status_code == 200, listed.text
    assert [
        (o["id"], o["status"], o["org_role"], o["provisioning_step"])
        for o in listed.json()["items"]
    ] == [
        (failed["id"], "FAILED", "OWNER", "billing_account"),
        (active["id"], "ACTIVE", "OWNER", None),
    ]
    for org in (failed, active):
        membership = stored_membership(api.tenantry, org["id"], owner.user_id)
        assert membership is not None
        assert (membership.org_role, membership.status) == (OrgRole.OWNER, MembershipStatus.ACTIVE)
    provisioned = audit_events(store_target, org_id=failed["id"], action="organisation.provisioned")
    assert [(e.actor_id, e.outcome.value) for e in provisioned] == [(owner.user_id, "FAILURE")]
    for org_id in (None, failed["id"], active["id"]):
        denied = audit_events(
            store_target, org_id=org_id, actor_id=owner.user_id, outcome=Outcome.DENIED
        )
        assert denied == []


def test_retrying_an_active_organisation_is_a_conflict(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    before = stored_organisation(api.tenantry, org["id"])

    refused = retry(api, owner, org["id"])

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "invalid_organisation_state"
    assert stored_organisation(api.tenantry, org["id"]) == before
    trail = actions(audit_events(store_target, org_id=org["id"], actor_id=owner.user_id))
    assert ("organisation.provisioning_retry", "SUCCESS") not in trail
    assert trail.count(("organisation.provisioned", "SUCCESS")) == 1


# --- seeds/004: the registration's COMMIT fails -------------------------------------------


@contextmanager
def commit_refusing_trigger(target: StoreTarget) -> Iterator[None]:
    """A deferred constraint trigger: the INSERT succeeds and only COMMIT fails."""
    suffix = secrets.token_hex(4)
    function, trigger = f"refuse_failcommit_{suffix}", f"refuse_failcommit_{suffix}"
    with privileged(target) as db:
        db.execute(
            sa.text(
                f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF starts_with(NEW.slug, 'failcommit-') THEN
                        RAISE EXCEPTION 'refused by the test trigger';
                    END IF;
                    RETURN NULL;
                END $$"""
            )
        )
        db.execute(
            sa.text(
                f"""CREATE CONSTRAINT TRIGGER {trigger} AFTER INSERT ON organisations
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}()"""
            )
        )
        db.commit()
        try:
            yield
        finally:
            db.rollback()
            db.execute(sa.text(f"DROP TRIGGER IF EXISTS {trigger} ON organisations"))
            db.execute(sa.text(f"DROP FUNCTION IF EXISTS {function}()"))
            db.commit()


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)  # needs deferred triggers
def test_a_registration_whose_commit_fails_leaves_nothing_and_frees_the_slug(
    api: Api, store_target: StoreTarget
) -> None:
    owner = api.verified_account()
    slug = unique_slug("failcommit")
    before = row_counts(store_target)

    with commit_refusing_trigger(store_target):
        refused = register_org(api, owner, slug)
        again = register_org(api, owner, slug)

    for response in (refused, again):  # the second is no `slug_taken`: nothing was left behind
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "commit_failed"
        for leak in ("Traceback", "psycopg", "refused by the test trigger", "organisations"):
            assert leak not in response.text
    assert organisation_rows_with_slug(store_target, slug) == []
    assert membership_rows_of(store_target, owner.user_id) == []
    assert row_counts(store_target) == before
    assert organisations_created_by(store_target, owner.user_id) == []
    assert api.client.get("/v1/organisations", headers=owner.auth).json()["items"] == []
    failures = audit_events(
        store_target, org_id=None, actor_id=owner.user_id, action="transaction.commit"
    )
    assert [(e.outcome.value, e.reason, e.details) for e in failures] == [
        ("FAILURE", "commit_failed", {"use_case": "POST /v1/organisations"})
    ] * 2

    created = register_org(api, owner, slug)

    assert created.status_code == 201, created.text
    assert (created.json()["slug"], created.json()["status"]) == (slug, "ACTIVE")
    assert len(organisation_rows_with_slug(store_target, slug)) == 1
    assert actions(
        audit_events(store_target, org_id=created.json()["id"], action="organisation.create")
    ) == [("organisation.create", "SUCCESS")]
