"""A unit of work's writes, collected in order and committed as one `TransactWriteItems`.

A write's precondition is what it expects of the item (`expect`: attribute values, and whether
the item exists). It goes to DynamoDB as a condition expression, checked atomically, and is
also checked here on the item as it was when one fails, in the order the writes were made,
since DynamoDB names only the item, not the write: so the conflict raised is the first failed
write's, as on the SQL stores. The transaction's `ClientRequestToken` makes a retry of the
same commit (after a lost answer) a no-op rather than a second application.

DynamoDB takes one operation per item in a transaction, and a use case may write one item
more than once (an organisation's update and its epoch bump, two bumps in a row): those
writes become one update whose assignments are the last of each attribute and whose condition
is what the first write of each attribute expected of the stored item. A later write's
expectation of an attribute an earlier one assigned is decided here, before anything is sent.

A use case's writes must fit one transaction (100 items): that is a property of each use
case, kept by design (bulk invitations, for one, are capped below it), not split here, since
a split commit would no longer be all or none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tenantry.domain.errors import Conflict, TenantryError, Unavailable
from tenantry.store.conflicts import conflict
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.keys import Key

MAX_TRANSACTION_ITEMS = 100
Stored = dict[str, Any] | None  # an item as it is (decoded), or None: there is none


@dataclass
class _Write:
    key: Key
    code: str
    on_conflict: TenantryError | None
    exists: bool  # the item must exist (an update, a check), or must not (a put)
    expect: dict[str, Any] = field(default_factory=dict)
    assignments: dict[str, Any] = field(default_factory=dict)  # SET name = value
    keep_set: bool = False  # assign only the attributes the item does not have yet
    put: dict[str, Any] | None = None  # a new item's attributes
    deletes: bool = False

    def holds(self, item: Stored) -> bool:
        if item is None:
            return not self.exists
        return self.exists and all(
            item.get(name) == codec.plain(value) for name, value in self.expect.items()
        )

    def applied(self, item: Stored) -> Stored:
        if self.put is not None:
            return {**self.key, **{k: codec.plain(v) for k, v in self.put.items()}}
        assigned = {k: codec.plain(v) for k, v in self.assignments.items()}
        if self.keep_set:
            assigned = {k: v for k, v in assigned.items() if (item or {}).get(k) is None}
        return {**(item or {}), **assigned}


class Writes:
    def __init__(self, client: Any, table: str, reads_item: Any) -> None:
        self._client = client
        self._table = table
        self._read = reads_item  # key -> Stored, strongly consistent
        self._writes: list[_Write] = []

    def put(
        self,
        key: Key,
        values: dict[str, Any],
        *,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """A new item: its key must not be taken."""
        self._writes.append(_Write(key, code, on_conflict, exists=False, put=dict(values)))

    def update(
        self,
        key: Key,
        assignments: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
        keep_set: bool = False,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Set each attribute of `assignments` on the item, which must exist and hold the
        values of `expect`; with `keep_set`, only those the item does not have yet."""
        self._writes.append(
            _Write(
                key,
                code,
                on_conflict,
                exists=True,
                expect=dict(expect or {}),
                assignments=dict(assignments),
                keep_set=keep_set,
            )
        )

    def delete(
        self,
        key: Key,
        *,
        expect: dict[str, Any] | None = None,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Delete the item, which must exist and hold the values of `expect`."""
        write = _Write(key, code, on_conflict, exists=True, expect=dict(expect or {}))
        write.deletes = True
        self._writes.append(write)

    def check(
        self,
        key: Key,
        *,
        expect: dict[str, Any] | None = None,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Only a condition: the item exists and holds the values of `expect` at commit."""
        self._writes.append(_Write(key, code, on_conflict, exists=True, expect=dict(expect or {})))

    def commit(self) -> None:
        writes, self._writes = self._writes, []
        if not writes:
            return
        groups = _by_item(writes)
        if len(groups) > MAX_TRANSACTION_ITEMS:
            raise RuntimeError(
                f"a use case wrote {len(groups)} items; one transaction takes "
                f"{MAX_TRANSACTION_ITEMS}: the use case must be made smaller, not split"
            )
        for group in groups:
            if _decided_here(group):  # a later write expects other than an earlier one set
                raise _first_failure(group, self._read(group[0].key))
        operations = [self._operation(group) for group in groups]
        try:
            self._client.transact_write_items(
                TransactItems=operations, ClientRequestToken=uuid.uuid4().hex
            )
        except ClientError as error:
            raise _refusal(error, groups) from None
        except BotoCoreError as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None

    def rollback(self) -> None:
        self._writes = []

    def _operation(self, group: list[_Write]) -> dict[str, Any]:
        first = group[0]
        if (first.put is not None or any(w.deletes for w in group)) and len(group) > 1:
            raise RuntimeError(f"an item is made or deleted and written again: {first.key}")
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        conditions = ["attribute_exists(PK)" if first.exists else "attribute_not_exists(PK)"]
        for name, value in _expected_of_the_store(group).items():
            names[f"#{name}"], values[f":expect_{name}"] = name, codec.value(value)
            if value is None:  # absent, or written as NULL
                conditions.append(f"(attribute_not_exists(#{name}) OR #{name} = :expect_{name})")
            else:
                conditions.append(f"#{name} = :expect_{name}")
        operation: dict[str, Any] = {
            "TableName": self._table,
            "ConditionExpression": " AND ".join(conditions),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        assignments = {name: v for write in group for name, v in write.assignments.items()}
        kept = {name for write in group if write.keep_set for name in write.assignments}
        if first.put is not None:
            operation["Item"] = codec.encode({**first.key, **first.put})
            kind = "Put"
        elif first.deletes:
            operation["Key"] = codec.encode(first.key)
            kind = "Delete"
        else:
            operation["Key"] = codec.encode(first.key)
            kind = "ConditionCheck"
        if assignments:
            for name, value in assignments.items():
                names[f"#{name}"], values[f":set_{name}"] = name, codec.value(value)
            operation["UpdateExpression"] = "SET " + ", ".join(
                f"#{name} = if_not_exists(#{name}, :set_{name})"
                if name in kept
                else f"#{name} = :set_{name}"
                for name in assignments
            )
            kind = "Update"
        if names:
            operation["ExpressionAttributeNames"] = names
        if values:
            operation["ExpressionAttributeValues"] = values
        return {kind: operation}


def _by_item(writes: list[_Write]) -> list[list[_Write]]:
    """The writes grouped by the item they write, in the order each item first appears."""
    groups: dict[tuple[str, str], list[_Write]] = {}
    for write in writes:
        groups.setdefault((write.key["PK"], write.key["SK"]), []).append(write)
    return list(groups.values())


def _expected_of_the_store(group: list[_Write]) -> dict[str, Any]:
    """What the item must hold as stored: each attribute as the first write that expects it
    before any write of the group assigned it."""
    assigned: set[str] = set()
    expected: dict[str, Any] = {}
    for write in group:
        for name, value in write.expect.items():
            if name not in assigned:
                expected.setdefault(name, value)
        assigned.update(write.assignments)
    return expected


def _decided_here(group: list[_Write]) -> bool:
    """Whether the group cannot commit whatever the store holds: a write expects a value that
    an earlier write of the group set otherwise, or two expect the stored item differently."""
    assigned: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for write in group:
        for name, value in write.expect.items():
            if name in assigned:
                if assigned[name] != value:
                    return True
            elif expected.setdefault(name, value) != value:
                return True
        assigned.update(write.assignments)
    return False


def _first_failure(group: list[_Write], stored: Stored) -> TenantryError:
    """The conflict of the first write of the group that fails on `stored`, the item as it
    was, with the writes before it applied."""
    item = stored
    for write in group:
        if not write.holds(item):
            return conflict(write.code, write.on_conflict)
        item = write.applied(item)
    return Conflict("the change met a concurrent one; try again", code="conflict")


def _refusal(error: ClientError, groups: list[list[_Write]]) -> TenantryError:
    code = error.response.get("Error", {}).get("Code", "")
    if code != "TransactionCanceledException":
        return Unavailable("the store did not take the change; nothing was applied")
    reasons = error.response.get("CancellationReasons") or []
    for group, reason in zip(groups, reasons, strict=False):
        if reason.get("Code") == "ConditionalCheckFailed":
            old = reason.get("Item")
            return _first_failure(group, codec.decode(dict(old)) if old else None)
    # Another transaction held one of the items (TransactionConflict): nothing was applied,
    # and trying again is the answer.
    return Conflict("the change met a concurrent one; try again", code="conflict")
