"""`tenantry dynamo create-table`: makes tenantry's DynamoDB table (docs/aws.md), as the
template in deploy/aws does: on-demand billing, TTL on expiring items, point-in-time recovery."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tenantry.cli.command import commands, err, load_settings, out
from tenantry.settings import DYNAMO_SCHEME, DynamoTarget, dynamo_target

dynamo_app = commands("tenantry's DynamoDB table.")


@dynamo_app.command("create-table")
def create_table(
    table: Annotated[
        str | None,
        typer.Option("--table", help="Its name (default: the table TENANTRY_DATABASE_URL names)."),
    ] = None,
    point_in_time_recovery: Annotated[
        bool,
        typer.Option(
            "--point-in-time-recovery/--no-point-in-time-recovery",
            help="Keep 35 days of continuous backups (DynamoDB Local has none).",
        ),
    ] = True,
) -> None:
    """Create the table with its indexes and wait until it is ACTIVE. The table, region and
    endpoint come from TENANTRY_DATABASE_URL (dynamodb://TABLE?region=R[&endpoint=URL]), the
    credentials from the AWS chain."""
    settings = load_settings()
    if not settings.database_url.startswith(f"{DYNAMO_SCHEME}:"):
        err.print(
            "[red]error[/] not_dynamodb: TENANTRY_DATABASE_URL is not a dynamodb:// URL "
            "(dynamodb://TABLE?region=REGION)"
        )
        raise typer.Exit(code=2)
    target = dynamo_target(settings.database_url)
    name = table or target.table
    client = _client(target)
    from botocore.exceptions import BotoCoreError, ClientError

    from tenantry.store.dynamo.table import INDEXES
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
    out.print(f"created table {name}: on demand, TTL on expires_at, {len(INDEXES)} indexes")


def _client(target: DynamoTarget) -> Any:
    try:
        from tenantry.store.dynamo.store import dynamo_client
    except ImportError:
        err.print("[red]error[/] aws_extra_missing: pip install 'tenantry[aws]'")
        raise typer.Exit(code=2) from None
    return dynamo_client(target)
