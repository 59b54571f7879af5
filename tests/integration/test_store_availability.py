"""The store as a client sees it: `/readyz` reports it ready, and a statement the database
gives up on (here, waiting too long for a row lock) is a 503 `store_unavailable` that changed
nothing, never a 500 with the driver's text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantry.domain.audit import Outcome
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
)
from tests.integration.account_checks import assert_problem
from tests.org_builders import patch_org, stored_organisation
from tests.smtp_server import SmtpServer

LOCK_TIMEOUT_MS = 300


def test_readyz_answers_ready_when_the_store_answers(api: Api) -> None:
    response = api.client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


# --- PostgreSQL: a lock wait that times out ------------------------------------------------


@pytest.fixture
def impatient_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """A tenantry on the same store whose statements wait at most 300 ms for a lock."""
    url = sa.make_url(store_target.url).update_query_dict(
        {"options": f"-c lock_timeout={LOCK_TIMEOUT_MS}"}
    )
    settings = test_settings(
        store_target, tmp_path, database_url=url.render_as_string(hide_password=False)
    )
    tenantry = build_tenantry(settings, clock, smtp_server)
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()


@contextmanager
def organisation_row_locked(target: StoreTarget, org_id: str) -> Iterator[None]:
    """Another transaction holds the organisation's row until the block ends."""
    with privileged(target) as db:
        db.execute(
            sa.text("SELECT id FROM organisations WHERE id = :id FOR UPDATE"), {"id": org_id}
        )
        try:
            yield
        finally:
            db.rollback()


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)  # needs lock_timeout
def test_an_update_that_times_out_waiting_for_a_lock_is_503_and_changes_nothing(
    impatient_api: Api, store_target: StoreTarget
) -> None:
    api = impatient_api
    owner, org = api.owner_with_org()

    with organisation_row_locked(store_target, org["id"]):
        timed_out = patch_org(api, owner, org["id"], {"name": "Renamed"})

    assert_problem(timed_out, 503, "store_unavailable")
    for leak in ("Traceback", "psycopg", "LockNotAvailable", "lock timeout", "UPDATE"):
        assert leak not in timed_out.text
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert stored.name == "Acme"
    assert audit_events(store_target, org_id=org["id"], action="organisation.update") == []
    [failure] = audit_events(store_target, org_id=org["id"], action="transaction")
    assert (failure.outcome, failure.reason, failure.actor_id) == (
        Outcome.FAILURE,
        "store_unavailable",
        owner.user_id,
    )
    assert failure.details == {"use_case": "PATCH /v1/organisations/{org_id}"}

    renamed = patch_org(api, owner, org["id"], {"name": "Renamed"})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert stored.name == "Renamed"
    updates = audit_events(store_target, org_id=org["id"], action="organisation.update")
    assert actions(updates) == [("organisation.update", Outcome.SUCCESS.value)]
    assert updates[0].actor_id == owner.user_id
