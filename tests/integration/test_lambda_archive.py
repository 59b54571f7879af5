"""The archive function (`tenantry.aws.archive.handler`) as a daily schedule invokes it, on
DynamoDB (AWS's DynamoDB Local) with the archive in S3 (moto's server): the events of the days
that are over go to the bucket with a signed digest, the chain's mark moves to its last
archived event, and a second run finds nothing new to write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tenantry.aws import archive as archive_function
from tenantry.domain.ids import new_id
from tenantry.settings import Settings
from tenantry.store.open import open_store
from tests.audit_builders import appended
from tests.aws_events import LambdaContext
from tests.contract.builders import make_draft
from tests.integration.test_lambda_handlers import call_api, lambda_environment
from tests.moto_server import TEST_CREDENTIALS
from tests.s3_server import new_bucket, s3_client, s3_endpoint

pytestmark = pytest.mark.parametrize("store_target", ["dynamo"], indirect=True)

__all__ = ["lambda_environment", "s3_endpoint"]  # fixtures, reused


@pytest.fixture
def bucket(
    lambda_environment: dict[str, str], s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The archive's bucket, named to the function as the template names it."""
    name = new_bucket(s3_endpoint)
    for variable, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("TENANTRY_AUDIT_ARCHIVE_URL", f"s3://{name}/audit")
    monkeypatch.setenv("TENANTRY_AUDIT_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setattr(archive_function, "_warm", None)
    yield name
    if archive_function._warm is not None:
        archive_function._warm.close()


def test_a_daily_run_archives_the_days_that_are_over_and_the_next_finds_nothing_new(
    bucket: str, s3_endpoint: str
) -> None:
    call_api("GET", "/v1/me")  # the API function, run first, made the signing keys
    store = open_store(Settings(_env_file=None).database_url)
    org_id = new_id("org")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    draft = make_draft(org_id=org_id)
    appended(store, org_id, [(draft, yesterday + timedelta(seconds=n)) for n in range(3)])

    first = archive_function.handler({"source": "aws.events"}, LambdaContext())
    again = archive_function.handler({"source": "aws.events"}, LambdaContext())

    with store.unit_of_work(org_id=org_id) as uow:
        state = uow.audit.chain(org_id)
    keys = [
        item["Key"]
        for item in s3_client(s3_endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])
    ]
    assert first["digest"] is not None, first
    assert first["broken"] == []
    assert state is not None
    assert state.archived.seq == 3  # the chain's mark: its last archived event
    assert any(org_id in key for key in keys), keys
    assert any("digest" in key for key in keys), keys
    assert (again["digest"], again["written"]) == (None, 0), again
