"""The cap on registrations: a user registers at most
`TENANTRY_MAX_ORGANISATIONS_PER_USER_PER_DAY` organisations in any 24 hours; the next is 429
`organisation_limit_reached`, audited, with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from tenantry.domain.audit import Outcome
from tenantry.domain.principal import SYSTEM
from tenantry.flows.registration import register_and_provision
from tenantry.runner import Runner
from tenantry.store.sql.tables import jobs
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    build_tenantry,
    dynamo_rows,
    privileged,
    test_settings,
    unique_slug,
)
from tests.integration.account_checks import assert_problem, audit_events_of, log_in_again
from tests.org_builders import membership_rows_of, organisation_rows_with_slug, register_org
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [ON_EVERY_STORE, pytest.mark.smtp]

CAP = 2
DAY = timedelta(days=1)


@pytest.fixture
def capped(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """The API with at most `CAP` registrations per user per day."""
    settings = test_settings(store_target, tmp_path, max_organisations_per_user_per_day=CAP)
    tenantry = build_tenantry(settings, clock, smtp_server)
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()


def register_now(api: Api, account: Account, slug: str | None = None) -> Any:
    """Register with a token fresh from a sign-in: the tests move the clock by hours."""
    return register_org(api, log_in_again(api, account), slug or unique_slug("capped"))


def registered(api: Api, account: Account) -> str:
    response = register_now(api, account)
    assert response.status_code == 201, response.text
    org_id: str = response.json()["id"]
    return org_id


def jobs_of(target: StoreTarget, org_id: str) -> list[Any]:
    if target.name == "dynamo":
        rows = dynamo_rows(target.url, "job")
        return [row for row in rows if row.id.startswith(f"provision:{org_id}:")]
    with privileged(target) as db:
        return list(db.execute(sa.select(jobs).where(jobs.c.id.like(f"provision:{org_id}:%"))))


def test_a_registration_beyond_the_cap_is_refused_audited_and_writes_nothing(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner = capped.verified_account()
    registered(capped, owner)
    clock.advance(hours=1)
    registered(capped, owner)
    clock.advance(hours=1)
    memberships_before = membership_rows_of(store_target, owner.user_id)
    slug = unique_slug("one-too-many")

    refused = register_now(capped, owner, slug)

    body = assert_problem(refused, 429, "organisation_limit_reached")
    assert str(CAP) in body["detail"]
    # The oldest of the two leaves the 24 hours 22 hours from now.
    assert refused.headers["retry-after"] == str(int(timedelta(hours=22).total_seconds()))
    assert organisation_rows_with_slug(store_target, slug) == []  # and so no job either
    assert membership_rows_of(store_target, owner.user_id) == memberships_before
    [denied] = audit_events_of(store_target, refused, action="organisation.create")
    assert (denied.outcome, denied.actor_id, denied.org_id, denied.reason) == (
        Outcome.DENIED,
        owner.user_id,
        None,
        "organisation_limit_reached",
    )
    assert denied.details == {"slug": slug, "limit": CAP}


def test_deleting_an_organisation_gives_no_registration_back(
    capped: Api, store_target: StoreTarget
) -> None:
    owner = capped.verified_account()
    first = registered(capped, owner)
    registered(capped, owner)
    scoped = capped.switch_org(owner, first)
    assert (
        capped.client.delete(f"/v1/organisations/{first}", headers=scoped.auth).status_code == 204
    )

    slug = unique_slug("after-delete")
    refused = register_now(capped, owner, slug)

    assert_problem(refused, 429, "organisation_limit_reached")
    assert organisation_rows_with_slug(store_target, slug) == []
    assert_denied(store_target, refused, owner)


def assert_denied(target: StoreTarget, refused: Any, owner: Account) -> None:
    """The refusal is on record as the owner's DENIED registration, and only that."""
    [denied] = audit_events_of(target, refused, action="organisation.create")
    assert (denied.outcome, denied.actor_id, denied.reason) == (
        Outcome.DENIED,
        owner.user_id,
        "organisation_limit_reached",
    )


def test_the_window_moves_on_one_registration_at_a_time(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner = capped.verified_account()
    registered(capped, owner)
    clock.advance(hours=6)
    registered(capped, owner)
    clock.advance(DAY - timedelta(hours=6))
    at_the_edge = register_now(capped, owner)  # the first is 24 hours old
    clock.advance(seconds=1)

    registered(capped, owner)  # the first has left the window
    refused = register_now(capped, owner)

    assert_problem(at_the_edge, 429, "organisation_limit_reached")
    assert_problem(refused, 429, "organisation_limit_reached")
    assert_denied(store_target, at_the_edge, owner)
    assert_denied(store_target, refused, owner)
    # The second leaves the 24 hours 6 hours after it was registered.
    assert refused.headers["retry-after"] == str(6 * 3600 - 1)


def test_the_cap_is_per_user(capped: Api, store_target: StoreTarget) -> None:
    busy, other = capped.verified_account(), capped.verified_account()
    for _ in range(CAP):
        registered(capped, busy)

    created = register_now(capped, other)

    assert created.status_code == 201, created.text
    assert [row.org_id for row in membership_rows_of(store_target, other.user_id)] == [
        created.json()["id"]
    ]


def test_an_operator_registering_for_a_user_is_not_limited(
    capped: Api, store_target: StoreTarget
) -> None:
    owner = capped.verified_account()
    for _ in range(CAP):
        registered(capped, owner)
    tenantry = capped.tenantry
    slug = unique_slug("by-operator")

    org = register_and_provision(
        Runner(tenantry, principal=SYSTEM),
        tenantry.jobs,
        name="Ops",
        slug=slug,
        owner_id=owner.user_id,
    )

    assert org.status.value == "ACTIVE"
    rows = organisation_rows_with_slug(store_target, slug)
    assert [(row.id, row.created_by) for row in rows] == [(org.id, owner.user_id)]
    assert len(jobs_of(store_target, org.id)) == 1
