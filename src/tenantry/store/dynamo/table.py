"""The one table: `PK`/`SK` and five global secondary indexes, on-demand billing, and TTL on
`expires_at` (the epoch second after which DynamoDB may delete an expiring item).

GSI1 to GSI3 are the lists of every entity (keys.py says which); GSI4 and GSI5 only the audit
log's (its events by request, and by id). Every index is sparse: an item is in one only when
it has that index's key attributes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4", "GSI5")
TTL_ATTRIBUTE = "expires_at"
# How long an expired session or token is kept before DynamoDB may delete it: long enough
# that a use of it just after expiry still finds it, and is refused as expired, not unknown.
KEPT_AFTER_EXPIRY = timedelta(days=1)


def table_definition(name: str) -> dict[str, Any]:
    """The arguments of `CreateTable` for tenantry's table called `name`."""
    keys = ["PK", "SK", *(f"{index}{part}" for index in INDEXES for part in ("PK", "SK"))]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"} for key in keys],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                    {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
    }


def create_table(client: Any, name: str, *, point_in_time_recovery: bool = False) -> None:
    """Create the table, wait until it is ACTIVE, turn on TTL and, when asked, point-in-time
    recovery (a deployment wants it; DynamoDB Local has none)."""
    client.create_table(**table_definition(name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    if point_in_time_recovery:
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
