"""deploy/aws/template.yaml against the code it deploys: the table is the one the store and
`tenantry dynamo create-table` make (keys, indexes, billing, TTL) with point-in-time recovery;
each function's handler is one of tenantry's Lambda entry points; the environment it gives the
functions is settings tenantry accepts in production; the role allows what the store does."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tenantry.settings import Settings, dynamo_target
from tenantry.store.dynamo.table import TTL_ATTRIBUTE, table_definition

TEMPLATE = Path(__file__).parents[2] / "deploy" / "aws" / "template.yaml"
FUNCTIONS = ("ApiFunction", "AuthorizerFunction", "OutboxFunction", "ArchiveFunction")
# What a deployment passes (docs/aws.md), and what CloudFormation fills in itself.
PARAMETERS = {
    "TableName": "tenantry",
    "SecretKeyArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenantry",
    "PublicUrl": "https://id.example.com",
    "MailFrom": "tenantry <no-reply@example.com>",
    "AuthorizerRoutes": '{"POST /sites/{id}/publish": "site:publish"}',
    "AWS::Region": "eu-west-1",
}
# The names the template's resources have once made.
MADE = {"Table": "tenantry", "AuditArchive": "tenantry-audit-archive"}
RESOLVED_SECRET = "a secret key from Secrets Manager, long enough"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return loaded


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def resolved(value: Any) -> Any:
    """A property's value as CloudFormation makes it, for the functions used here."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {**PARAMETERS, **MADE}[value["Ref"]]
    text = value["Fn::Sub"]
    for name, made in {**PARAMETERS, **MADE}.items():
        text = text.replace("${" + name + "}", made)
    return text.replace(
        "{{resolve:secretsmanager:" + PARAMETERS["SecretKeyArn"] + ":SecretString}}",
        RESOLVED_SECRET,
    )


def test_the_table_is_the_one_the_store_makes_with_point_in_time_recovery(
    template: dict[str, Any],
) -> None:
    [table] = resources(template, "AWS::DynamoDB::Table").values()
    wanted = table_definition("tenantry")

    assert table["BillingMode"] == wanted["BillingMode"]
    assert table["KeySchema"] == wanted["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        wanted["AttributeDefinitions"], key=str
    )
    assert table["GlobalSecondaryIndexes"] == wanted["GlobalSecondaryIndexes"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert template["Resources"]["Table"]["DeletionPolicy"] == "Retain"


def test_each_function_runs_one_of_tenantrys_lambda_entry_points(
    template: dict[str, Any],
) -> None:
    functions = resources(template, "AWS::Lambda::Function")

    handlers = {name: functions[name]["Handler"] for name in FUNCTIONS}

    assert handlers == {
        "ApiFunction": "tenantry.aws.api.handler",
        "AuthorizerFunction": "tenantry.aws.authorizer.handler",
        "OutboxFunction": "tenantry.aws.outbox.handler",
        "ArchiveFunction": "tenantry.aws.archive.handler",
    }
    for handler in handlers.values():
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_functions_environment_is_settings_tenantry_accepts_in_production(
    template: dict[str, Any], function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = resources(template, "AWS::Lambda::Function")[function]["Environment"]["Variables"]
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"TENANTRY_{name.upper()}", raising=False)
    for name, value in variables.items():
        assert name.removeprefix("TENANTRY_").lower() in Settings.model_fields, name
        monkeypatch.setenv(name, resolved(value))

    settings = Settings(_env_file=None)

    assert settings.env.value == "production"
    assert dynamo_target(settings.database_url).table == "tenantry"
    assert (settings.mailer, settings.audit_archive_url) == (
        "ses",
        "s3://tenantry-audit-archive/audit",
    )
    assert settings.bulk_invitation_max == 15


def test_the_functions_role_allows_what_the_store_does_on_the_table_and_its_indexes(
    template: dict[str, Any],
) -> None:
    [role] = resources(template, "AWS::IAM::Role").values()
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}

    table = statements["Table"]
    assert set(table["Action"]) >= {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    }
    assert "dynamodb:Scan" not in table["Action"]  # the store never scans
    assert {"Fn::Sub": "${Table.Arn}/index/*"} in table["Resource"]


def test_the_product_api_asks_the_authorizer_afresh_for_every_request(
    template: dict[str, Any],
) -> None:
    [authorizer] = resources(template, "AWS::ApiGatewayV2::Authorizer").values()

    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    routes = resources(template, "AWS::ApiGatewayV2::Route").values()
    assert all(route["AuthorizationType"] == "CUSTOM" for route in routes)
