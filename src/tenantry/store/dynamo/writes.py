"""A unit of work's writes, collected in order and committed as one `TransactWriteItems`.

Each write carries its precondition as a condition expression and the conflict a failed one
raises; DynamoDB cancels the whole transaction and says, write by write, which condition
failed, so the conflict named is the first failed write's, as on the SQL stores. The
transaction's `ClientRequestToken` makes a retry of the same commit (after a lost answer) a
no-op rather than a second application.

A use case's writes must fit one transaction (100 items): that is a property of each use
case, kept by design (bulk invitations, for one, are capped below it), not split here, since
a split commit would no longer be all or none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tenantry.domain.errors import Conflict, TenantryError, Unavailable
from tenantry.store.conflicts import conflict
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.keys import Key

MAX_TRANSACTION_ITEMS = 100


@dataclass(frozen=True, slots=True)
class _Write:
    operation: dict[str, Any]  # one entry of TransactItems
    code: str
    on_conflict: TenantryError | None


class Writes:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._writes: list[_Write] = []

    def put(
        self,
        values: dict[str, Any],
        *,
        condition: str | None = "attribute_not_exists(PK)",
        arguments: dict[str, Any] | None = None,
        code: str = "conflict",
        on_conflict: TenantryError | None = None,
    ) -> None:
        operation: dict[str, Any] = {"TableName": self._table, "Item": codec.encode(values)}
        self._add("Put", operation, condition, arguments, code, on_conflict)

    def update(
        self,
        key: Key,
        assignments: dict[str, Any],
        *,
        condition: str = "attribute_exists(PK)",
        arguments: dict[str, Any] | None = None,
        code: str = "conflict",
        on_conflict: TenantryError | None = None,
    ) -> None:
        """`SET` each attribute of `assignments` to its value (`:set_<name>`)."""
        sets = ", ".join(f"#set_{name} = :set_{name}" for name in assignments)
        operation: dict[str, Any] = {
            "TableName": self._table,
            "Key": codec.encode(key),
            "UpdateExpression": f"SET {sets}",
        }
        values = {f"set_{name}": value for name, value in assignments.items()}
        names = {f"set_{name}": name for name in assignments}
        self._add(
            "Update",
            operation,
            condition,
            {**values, **(arguments or {})},
            code,
            on_conflict,
            names=names,
        )

    def check(
        self,
        key: Key,
        *,
        condition: str = "attribute_exists(PK)",
        arguments: dict[str, Any] | None = None,
        code: str = "conflict",
        on_conflict: TenantryError | None = None,
    ) -> None:
        operation: dict[str, Any] = {"TableName": self._table, "Key": codec.encode(key)}
        self._add("ConditionCheck", operation, condition, arguments, code, on_conflict)

    def commit(self) -> None:
        writes, self._writes = self._writes, []
        if not writes:
            return
        if len(writes) > MAX_TRANSACTION_ITEMS:
            raise RuntimeError(
                f"a use case wrote {len(writes)} items; one transaction takes "
                f"{MAX_TRANSACTION_ITEMS}: the use case must be made smaller, not split"
            )
        try:
            self._client.transact_write_items(
                TransactItems=[w.operation for w in writes],
                ClientRequestToken=uuid.uuid4().hex,
            )
        except ClientError as error:
            raise _refusal(error, writes) from None

    def rollback(self) -> None:
        self._writes = []

    def _add(
        self,
        kind: str,
        operation: dict[str, Any],
        condition: str | None,
        arguments: dict[str, Any] | None,
        code: str,
        on_conflict: TenantryError | None,
        *,
        names: dict[str, str] | None = None,
    ) -> None:
        if condition is not None:
            operation["ConditionExpression"] = condition
        all_names = {**(names or {}), **_names_in(condition)}
        if all_names:
            operation["ExpressionAttributeNames"] = {f"#{k}": v for k, v in all_names.items()}
        if arguments:
            operation["ExpressionAttributeValues"] = {
                f":{name}": codec.value(value) for name, value in arguments.items()
            }
        self._writes.append(_Write({kind: operation}, code, on_conflict))


def _names_in(condition: str | None) -> dict[str, str]:
    """`#name` placeholders of a condition, each standing for the attribute of that name
    (conditions here name attributes as `#attr`, since many names are reserved words)."""
    if condition is None:
        return {}
    words = condition.replace("(", " ").replace(")", " ").replace(",", " ").split()
    return {word[1:]: word[1:] for word in words if word.startswith("#")}


def _refusal(error: ClientError, writes: list[_Write]) -> TenantryError:
    code = error.response.get("Error", {}).get("Code", "")
    if code != "TransactionCanceledException":
        return Unavailable("the store did not take the change; nothing was applied")
    reasons = error.response.get("CancellationReasons") or []
    for write, reason in zip(writes, reasons, strict=False):
        if reason.get("Code") == "ConditionalCheckFailed":
            return conflict(write.code, write.on_conflict)
    # Another transaction held one of the items (TransactionConflict): nothing was applied,
    # and trying again is the answer.
    return Conflict("the change met a concurrent one; try again", code="conflict")
