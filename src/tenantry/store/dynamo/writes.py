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

Some writes are made only at commit, from what the store holds then: a sealer (the audit log's)
adds them, reading the chain heads it continues. Such a write is marked `retry`: when its
condition fails, another commit moved the head first, and the commit is tried again with a
fresh read, a bounded number of times, instead of being refused.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from tenantry.domain.errors import Conflict, TenantryError, Unavailable
from tenantry.store.conflicts import conflict
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.keys import Key

log = structlog.get_logger()

MAX_TRANSACTION_ITEMS = 100
BATCH_WRITE_LIMIT = 25  # requests one BatchWriteItem takes
MAX_COMMIT_ATTEMPTS = 12  # of a commit whose sealed writes met a concurrent commit's
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
    increments: dict[str, int] = field(default_factory=dict)  # SET name = name + delta
    retry: bool = False  # a failed condition is a race to run again, not a refusal
    impossible: bool = False  # a precondition already known to fail

    def holds(self, item: Stored) -> bool:
        if self.impossible:
            return False
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
        for name, delta in self.increments.items():
            assigned[name] = (item or {}).get(name, 0) + delta
        return {**(item or {}), **assigned}


class WriteList:
    """Writes in the order they are made, each with its precondition."""

    def __init__(self) -> None:
        self._writes: list[_Write] = []
        self.closed = False  # the unit of work's block has ended

    def _add(self, write: _Write) -> None:
        if self.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        self._writes.append(write)

    def put(
        self,
        key: Key,
        values: dict[str, Any],
        *,
        code: str,
        on_conflict: TenantryError | None = None,
        retry: bool = False,
    ) -> None:
        """A new item: its key must not be taken."""
        write = _Write(key, code, on_conflict, exists=False, put=dict(values), retry=retry)
        self._add(write)

    def update(
        self,
        key: Key,
        assignments: dict[str, Any],
        *,
        expect: dict[str, Any] | None = None,
        keep_set: bool = False,
        code: str,
        on_conflict: TenantryError | None = None,
        retry: bool = False,
    ) -> None:
        """Set each attribute of `assignments` on the item, which must exist and hold the
        values of `expect`; with `keep_set`, only those the item does not have yet."""
        self._add(
            _Write(
                key,
                code,
                on_conflict,
                exists=True,
                expect=dict(expect or {}),
                assignments=dict(assignments),
                keep_set=keep_set,
                retry=retry,
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
        write = _Write(key, code, on_conflict, exists=True, expect=dict(expect or {}), deletes=True)
        self._add(write)

    def increment(
        self,
        key: Key,
        name: str,
        delta: int,
        *,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Add `delta` to the item's attribute `name` as stored at commit (not as read)."""
        write = _Write(key, code, on_conflict, exists=True, increments={name: delta})
        self._add(write)

    def check(
        self,
        key: Key,
        *,
        expect: dict[str, Any] | None = None,
        code: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Only a condition: the item exists and holds the values of `expect` at commit."""
        self._add(_Write(key, code, on_conflict, exists=True, expect=dict(expect or {})))

    def refuse(self, key: Key, *, code: str, on_conflict: TenantryError | None = None) -> None:
        """A precondition on the item already known to fail (one DynamoDB cannot state, such
        as an inequality): the commit is refused with its conflict, in its place in order."""
        self._add(_Write(key, code, on_conflict, exists=True, impossible=True))


Sealer = Callable[[WriteList, list[Any]], None]  # adds the writes of what it was given


class Writes(WriteList):
    def __init__(self, client: Any, table: str, reads_item: Callable[[Key], Stored]) -> None:
        super().__init__()
        self._client = client
        self._table = table
        self._read = reads_item  # key -> Stored, strongly consistent
        self._sealed: dict[Sealer, list[Any]] = {}
        self._after: list[Callable[[], None]] = []

    def seal(self, sealer: Sealer, value: Any) -> None:
        """Buffer `value` for `sealer`: at commit, before the transaction (and again before
        each retry of it), the sealer adds the writes of every value given it, made from what
        the store holds then."""
        if self.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        self._sealed.setdefault(sealer, []).append(value)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction has committed: tidying that nothing depends on,
        whose failure is logged and left to a later run, since the commit stands."""
        self._after.append(action)

    def commit(self) -> None:
        writes, self._writes = self._writes, []
        to_seal, self._sealed = self._sealed, {}
        after, self._after = self._after, []
        for attempt in range(MAX_COMMIT_ATTEMPTS):
            sealed = WriteList()
            for sealer, values in to_seal.items():
                sealer(sealed, values)
            try:
                self._transact([*writes, *sealed._writes])
            except _HeadMoved:
                # Another commit moved a head the sealer read: read it again, after a pause
                # that grows and is drawn at random, so that racing writers spread out.
                time.sleep(random.uniform(0, min(0.1, 0.004 * 2**attempt)))  # noqa: S311 - a delay
                continue
            for action in after:
                _tidy(action)
            return
        raise Conflict("the change met too many concurrent ones; try again", code="conflict")

    def rollback(self) -> None:
        self._writes, self._sealed, self._after = [], {}, []

    def delete_now(self, wanted: list[Key]) -> None:
        """Delete the items at once, outside any transaction (tidying after a commit, which
        nothing depends on: what a failure leaves is deleted another time)."""
        for start in range(0, len(wanted), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {
                self._table: [
                    {"DeleteRequest": {"Key": codec.encode(key)}}
                    for key in wanted[start : start + BATCH_WRITE_LIMIT]
                ]
            }
            while pending:  # what DynamoDB left unprocessed (throttling) is asked again
                try:
                    answer = self._client.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as error:
                    raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
                pending = answer.get("UnprocessedItems") or {}

    def update_now(self, key: Key, assignments: dict[str, Any], *, expect: dict[str, Any]) -> None:
        """Update the item at once, outside any transaction, if it is still as `expect` says
        (tidying after a commit: an item changed since, or gone, is left as it is)."""
        write = _Write(key, "conflict", None, exists=True, expect=expect, assignments=assignments)
        plan = _plan([write])
        assert plan is not None  # one write alone expects only of the stored item
        [(_kind, operation)] = self._operation(plan).items()
        operation.pop("ReturnValuesOnConditionCheckFailure")  # a transaction's option
        try:
            self._client.update_item(**operation)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise Unavailable(f"the store did not answer: {error}") from None
        except BotoCoreError as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None

    def _transact(self, writes: list[_Write]) -> None:
        if not writes:
            return
        groups = _by_item(writes)
        if len(groups) > MAX_TRANSACTION_ITEMS:
            # Not split: a split commit would no longer be all or none. No use case gets here
            # by design (those the data could grow, a team's or a role's deletion, tidy what
            # held it after the commit); were one to, it is refused whole.
            raise Conflict(
                f"the change would write {len(groups)} items, and one DynamoDB transaction "
                f"holds {MAX_TRANSACTION_ITEMS}; nothing was changed",
                code="change_too_large",
            )
        plans = []
        for group in groups:
            plan = _plan(group)
            if plan is None:  # a write of the group fails whatever the store holds
                raise _first_failure(group, self._read(group[0].key))
            plans.append(plan)
        operations = [self._operation(plan) for plan in plans]
        try:
            self._client.transact_write_items(
                TransactItems=operations, ClientRequestToken=uuid.uuid4().hex
            )
        except ClientError as error:
            raise _refusal(error, groups) from None
        except BotoCoreError as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None

    def _operation(self, plan: _Plan) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        conditions = ["attribute_exists(PK)" if plan.must_exist else "attribute_not_exists(PK)"]
        for name, value in plan.expect.items():
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
        if plan.item is not None:
            operation["Item"] = codec.encode(plan.item)
            kind = "Put"
        else:
            operation["Key"] = codec.encode(plan.key)
            kind = "Delete" if plan.deleted and plan.must_exist else "ConditionCheck"
        clauses = []
        for name, value in plan.assignments.items():
            names[f"#{name}"], values[f":set_{name}"] = name, codec.value(value)
            kept_value = f"if_not_exists(#{name}, :set_{name})"
            clauses.append(f"#{name} = {kept_value if name in plan.kept else f':set_{name}'}")
        for name, delta in plan.increments.items():
            names[f"#{name}"], values[f":add_{name}"] = name, codec.value(delta)
            clauses.append(f"#{name} = #{name} + :add_{name}")
        if clauses and plan.item is None and not plan.deleted:
            operation["UpdateExpression"] = "SET " + ", ".join(clauses)
            kind = "Update"
        if names:
            operation["ExpressionAttributeNames"] = names
        if values:
            operation["ExpressionAttributeValues"] = values
        return {kind: operation}


@dataclass
class _Plan:
    """One item's writes as one operation: what the stored item must be, and what becomes of
    it (a whole new item, deleted, or updated)."""

    key: Key
    must_exist: bool
    expect: dict[str, Any] = field(default_factory=dict)  # of the stored item
    item: dict[str, Any] | None = None  # the whole item written, when a write put it
    deleted: bool = False
    assignments: dict[str, Any] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)  # assigned only where not set yet
    increments: dict[str, int] = field(default_factory=dict)


def _plan(group: list[_Write]) -> _Plan | None:
    """The group's writes, in order, as one operation; None when one of them fails whatever
    the store holds (it expects other than what an earlier write of the group left)."""
    if any(write.impossible for write in group):
        return None
    first = group[0]
    plan = _Plan(first.key, must_exist=first.exists)
    known: dict[str, Any] = {}  # attributes the group set, as they will read
    for n, write in enumerate(group):
        if plan.item is not None or (plan.deleted and n > 0):
            if not _on_known(plan, write):
                return None
            continue
        if n > 0 and not write.exists:  # a put where the stored item (or its update) is
            return None
        if not _expected(plan, write, known):
            return None
        if write.put is not None:  # the first write: a new item
            plan.item = {**write.key, **{k: codec.plain(v) for k, v in write.put.items()}}
        elif write.deletes:
            plan.deleted = True
        else:
            _assign(plan, write, known)
    return plan


def _expected(plan: _Plan, write: _Write, known: dict[str, Any]) -> bool:
    for name, value in write.expect.items():
        if name in known:
            if known[name] != codec.plain(value):
                return False
        elif name in plan.increments or name in plan.kept:
            raise RuntimeError(f"{name} is expected after a write that depends on the store")
        elif name in plan.expect:
            if codec.plain(plan.expect[name]) != codec.plain(value):
                return False
        else:
            plan.expect[name] = value
    return True


def _assign(plan: _Plan, write: _Write, known: dict[str, Any]) -> None:
    for name, value in write.assignments.items():
        plan.assignments[name] = value
        if write.keep_set:
            plan.kept.add(name)
        else:
            known[name] = codec.plain(value)
    for name, delta in write.increments.items():
        if name in known:
            known[name] += delta
            plan.assignments[name] = known[name]
        else:
            plan.increments[name] = plan.increments.get(name, 0) + delta


def _on_known(plan: _Plan, write: _Write) -> bool:
    """A write after the group put or deleted the item: decided on what the group left."""
    if plan.item is None:  # deleted
        if write.exists:
            return False
        plan.item = {**write.key, **{k: codec.plain(v) for k, v in (write.put or {}).items()}}
        plan.deleted = False
        return True
    if not write.holds(plan.item):
        return False
    if write.deletes:
        plan.item, plan.deleted = None, True
    else:
        plan.item = write.applied(plan.item)
    return True


def _by_item(writes: list[_Write]) -> list[list[_Write]]:
    """The writes grouped by the item they write, in the order each item first appears."""
    groups: dict[tuple[str, str], list[_Write]] = {}
    for write in writes:
        groups.setdefault((write.key["PK"], write.key["SK"]), []).append(write)
    return list(groups.values())


def _first_failure(group: list[_Write], stored: Stored) -> TenantryError:
    """The conflict of the first write of the group that fails on `stored`, the item as it
    was, with the writes before it applied."""
    item = stored
    for write in group:
        if not write.holds(item):
            if write.retry:
                raise _HeadMoved
            return conflict(write.code, write.on_conflict)
        item = write.applied(item)
    return Conflict("the change met a concurrent one; try again", code="conflict")


def _tidy(action: Callable[[], None]) -> None:
    """Run an after-commit action; its failure is logged, not raised: the commit stands, and
    what the action left undone is done by a later one."""
    try:
        action()
    except TenantryError as error:
        log.warning("dynamo.tidying_failed", code=error.code, detail=error.detail)


class _HeadMoved(Exception):
    """A sealed write met a concurrent commit: the commit is sealed and tried again."""


def _refusal(error: ClientError, groups: list[list[_Write]]) -> TenantryError:
    code = error.response.get("Error", {}).get("Code", "")
    if code != "TransactionCanceledException":
        return Unavailable("the store did not take the change; nothing was applied")
    reasons = error.response.get("CancellationReasons") or []
    for group, reason in zip(groups, reasons, strict=False):
        if reason.get("Code") == "ConditionalCheckFailed":
            old = reason.get("Item")
            return _first_failure(group, codec.decode(dict(old)) if old else None)
        if reason.get("Code") == "TransactionConflict" and any(w.retry for w in group):
            raise _HeadMoved  # a commit in flight holds the head: seal after it
    # Another transaction held one of the items (TransactionConflict): nothing was applied,
    # and trying again is the answer.
    return Conflict("the change met a concurrent one; try again", code="conflict")
