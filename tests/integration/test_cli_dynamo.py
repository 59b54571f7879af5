"""`tenantry dynamo create-table` against AWS's DynamoDB Local: the table as the store needs it
(keys, five indexes, on-demand billing, TTL), and a clear refusal when it exists already."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from tenantry.cli import app
from tests.dynamodb_local import DynamoDbEndpoint, dynamodb  # noqa: F401 - a fixture


@pytest.fixture
def on_dynamodb(dynamodb: DynamoDbEndpoint, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """The CLI's environment aimed at DynamoDB Local; the name of a table of the test's own."""
    for name, value in {
        "TENANTRY_DATABASE_URL": (
            f"dynamodb://tenantry?region=eu-west-1&endpoint={dynamodb.endpoint_url}"
        ),
        "TENANTRY_SECRET_KEY": "cli-test-secret-" + "x" * 40,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(name, value)
    return f"tenantry-{uuid.uuid4().hex[:10]}"


def test_create_table_makes_the_table_the_store_needs_and_refuses_a_second_time(
    on_dynamodb: str,
    dynamodb: DynamoDbEndpoint,  # noqa: F811
) -> None:
    table = on_dynamodb
    command = ["dynamo", "create-table", "--table", table, "--no-point-in-time-recovery"]

    made = CliRunner().invoke(app, command)
    again = CliRunner().invoke(app, command)

    assert made.exit_code == 0, made.output
    assert f"created table {table}" in made.output
    client = dynamodb.client()
    described = client.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in described["KeySchema"]] == ["PK", "SK"]
    assert sorted(i["IndexName"] for i in described["GlobalSecondaryIndexes"]) == [
        "GSI1",
        "GSI2",
        "GSI3",
        "GSI4",
        "GSI5",
    ]
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert again.exit_code == 1
    assert "table_exists" in again.output
    assert "Traceback" not in again.output


def test_migrate_finds_the_table_and_keys_init_prepares_it_for_the_functions(
    on_dynamodb: str,
    dynamodb: DynamoDbEndpoint,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = on_dynamodb
    monkeypatch.setenv("TENANTRY_DATABASE_URL", dynamodb.store_url(table))
    before = CliRunner().invoke(app, ["migrate"])
    CliRunner().invoke(app, ["dynamo", "create-table", "--no-point-in-time-recovery"])

    after = CliRunner().invoke(app, ["migrate"])
    keys = CliRunner().invoke(app, ["keys", "init"])

    assert before.exit_code == 1, before.output
    assert "create-table" in before.output
    assert "Traceback" not in before.output
    assert after.exit_code == 0, after.output
    assert "no schema to migrate" in after.output
    assert keys.exit_code == 0, keys.output
    ring = dynamodb.client().query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "SIGNING_KEYS"}},
    )
    assert len(ring["Items"]) == 2  # the current key and the next one
