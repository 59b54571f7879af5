"""`tenantry dynamo create-table`: makes tenantry's DynamoDB table (docs/aws.md), as the
template in deploy/aws does: on-demand billing, TTL on expiring items, point-in-time recovery."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tenantry.cli.command import commands, err, load_settings, out

dynamo_app = commands("tenantry's DynamoDB table.")


@dynamo_app.command("create-table")
def create_table(
    table: Annotated[
        str | None, typer.Option("--table", help="Its name (default TENANTRY_DYNAMODB_TABLE).")
    ] = None,
    point_in_time_recovery: Annotated[
        bool,
        typer.Option(
            "--point-in-time-recovery/--no-point-in-time-recovery",
            help="Keep 35 days of continuous backups (DynamoDB Local has none).",
        ),
    ] = True,
) -> None:
    """Create the table with its indexes and wait until it is ACTIVE. The region and
    credentials come from TENANTRY_DYNAMODB_REGION and the AWS chain;
    TENANTRY_DYNAMODB_ENDPOINT_URL names another endpoint (DynamoDB Local)."""
    settings = load_settings()
    name = table or settings.dynamodb_table
    client = _client(settings.dynamodb_region, settings.dynamodb_endpoint_url)
    from botocore.exceptions import BotoCoreError, ClientError

    from tenantry.store.dynamo.table import create_table as make

    try:
        make(client, name, point_in_time_recovery=point_in_time_recovery)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ResourceInUseException":
            err.print(f"[red]error[/] table_exists: the table {name} exists already")
            raise typer.Exit(code=1) from None
        err.print(
            f"[red]error[/] dynamodb_refused: {code}: {error.response['Error'].get('Message')}"
        )
        raise typer.Exit(code=1) from None
    except BotoCoreError as error:
        err.print(f"[red]error[/] dynamodb_unavailable: {error}")
        raise typer.Exit(code=1) from None
    out.print(f"created table {name}: on demand, TTL on expires_at, 3 indexes")


def _client(region: str | None, endpoint_url: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        err.print("[red]error[/] aws_extra_missing: pip install 'tenantry[aws]'")
        raise typer.Exit(code=2) from None
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
