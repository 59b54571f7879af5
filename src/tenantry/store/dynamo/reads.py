"""Reads of committed items: strongly consistent `GetItem` by key (an index would be only
eventually consistent, so nothing that decides a write is read through one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tenantry.domain.errors import Unavailable
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.keys import Key

BATCH_GET_LIMIT = 100  # keys one BatchGetItem takes


class Reads:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self.closed = False  # the unit of work's block has ended
        self._remembered: dict[tuple[str, str], dict[str, Any] | None] = {}

    def _open_client(self) -> Any:
        if self.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._client

    def get(self, key: Key) -> dict[str, Any] | None:
        try:
            answer = self._open_client().get_item(
                TableName=self._table, Key=codec.encode(key), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
        item = answer.get("Item")
        return codec.decode(item) if item is not None else None

    def remembered(self, wanted: list[Key]) -> list[dict[str, Any]]:
        """`get_many`, each key read once in the unit of work: what a read of access reads
        twice (the roles a member's assignments name, to hide those of a deleted role, then
        to build the snapshot) costs one round trip. The first answer stands for the rest of
        the unit of work, which is as if the second read had been made with the first."""
        unknown = [key for key in wanted if (key["PK"], key["SK"]) not in self._remembered]
        if unknown:
            for key in unknown:
                self._remembered[key["PK"], key["SK"]] = None
            for item in self.get_many(unknown):
                self._remembered[item["PK"], item["SK"]] = item
        known = (self._remembered[key["PK"], key["SK"]] for key in wanted)
        return [item for item in known if item is not None]

    def forget(self) -> None:
        """After a commit or a rollback: what was remembered may have changed since."""
        self._remembered.clear()

    def get_many(self, wanted: list[Key]) -> list[dict[str, Any]]:
        """The items of those keys that exist (strongly consistent), in no promised order."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [codec.encode(key) for key in wanted[start : start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            while pending:  # what DynamoDB left unprocessed (throttling) is asked again
                try:
                    answer = self._open_client().batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as error:
                    raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
                found.extend(
                    codec.decode(item) for item in answer["Responses"].get(self._table, [])
                )
                pending = answer.get("UnprocessedKeys") or {}
        return found

    def query(
        self,
        key_condition: str,
        values: dict[str, Any],
        *,
        index: str | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        wanted: int | None = None,
        newest_first: bool = False,
        stop: Callable[[dict[str, Any]], bool] = lambda _: False,
    ) -> list[dict[str, Any]]:
        """The items of a key condition in key order, those `keep` takes, until `wanted` are
        found (None: all) or an item `stop` takes is read. The main table is read strongly
        consistent; an index cannot be. Without `keep`, each page asks for no more than
        are wanted (`Limit`); with it, DynamoDB's own page size is read, filtered here."""
        found: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": {f":{k}": codec.value(v) for k, v in values.items()},
            "ScanIndexForward": not newest_first,
        }
        if index is None:
            arguments["ConsistentRead"] = True
        else:
            arguments["IndexName"] = index
        if keep is None and wanted is not None:
            arguments["Limit"] = wanted
        for answer in self._pages(arguments):
            for item in answer.get("Items", []):
                decoded = codec.decode(item)
                if stop(decoded):
                    return found
                if keep is None or keep(decoded):
                    found.append(decoded)
                    if wanted is not None and len(found) >= wanted:
                        return found
        return found

    def count(self, key_condition: str, values: dict[str, Any], *, index: str) -> int:
        """How many items of an index match a key condition (`Select=COUNT`, page by page)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": {f":{k}": codec.value(v) for k, v in values.items()},
            "Select": "COUNT",
        }
        return sum(answer.get("Count", 0) for answer in self._pages(arguments))

    def _pages(self, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A query's answers, one page each, following `LastEvaluatedKey`."""
        while True:
            try:
                answer = self._open_client().query(**arguments)
            except (ClientError, BotoCoreError) as error:
                raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
            yield answer
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            arguments = {**arguments, "ExclusiveStartKey": last}
