"""Reads of committed items: strongly consistent `GetItem` by key (an index would be only
eventually consistent, so nothing that decides a write is read through one)."""

from __future__ import annotations

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

    def get(self, key: Key) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=codec.encode(key), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
        item = answer.get("Item")
        return codec.decode(item) if item is not None else None

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
                    answer = self._client.batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as error:
                    raise Unavailable(f"the store did not answer: {type(error).__name__}") from None
                found.extend(
                    codec.decode(item) for item in answer["Responses"].get(self._table, [])
                )
                pending = answer.get("UnprocessedKeys") or {}
        return found
