"""One-time tokens (email links) and refresh tokens on DynamoDB: each under its id, with an
item under its hash that names it, so that a link or a refresh finds its token by a strongly
consistent read (an index would be only eventually consistent). Both expire: `expires_at`
(the TTL attribute, in epoch seconds) lets DynamoDB delete them a day after they stop working.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import OneTimeToken, RefreshToken, TokenPurpose
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.keys import Key
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.table import KEPT_AFTER_EXPIRY, TTL_ATTRIBUTE
from tenantry.store.dynamo.writes import Writes

# How long after it stops working an expired token is kept (for the audit of a late click).


class _HashedTokens:
    """Tokens kept under their id and found by their hash; a token is used once."""

    def __init__(
        self,
        reads: Reads,
        writes: Writes,
        *,
        key: Callable[[str], Key],
        hash_key: Callable[[str], Key],
        used_code: str,
    ) -> None:
        self._reads = reads
        self._writes = writes
        self._key = key
        self._hash_key = hash_key
        self._used_code = used_code

    def _get_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        holder = self._reads.get(self._hash_key(token_hash))
        return self._reads.get(self._key(holder["token_id"])) if holder is not None else None

    def _add(
        self, token_id: str, token_hash: str, values: dict[str, Any], expires: datetime
    ) -> None:
        expiry = {TTL_ATTRIBUTE: int((expires + KEPT_AFTER_EXPIRY).timestamp())}
        self._writes.put(self._key(token_id), {**values, **expiry}, code="conflict")
        self._writes.put(
            self._hash_key(token_hash), {"token_id": token_id, **expiry}, code="conflict"
        )

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.update(
            self._key(token_id),
            {"used_at": at},
            expect={"used_at": None},
            code=self._used_code,
            on_conflict=on_conflict,
        )


class DynamoOneTimeTokens(_HashedTokens):
    def __init__(self, reads: Reads, writes: Writes) -> None:
        super().__init__(
            reads,
            writes,
            key=keys.one_time_token,
            hash_key=keys.one_time_token_hash,
            used_code="token_used",
        )

    def get_by_hash(self, token_hash: str) -> OneTimeToken | None:
        found = self._get_by_hash(token_hash)
        return _one_time_token(found) if found is not None else None

    def add(self, token: OneTimeToken) -> None:
        self._add(token.id, token.token_hash, _ott(token), token.expires_at)


class DynamoRefreshTokens(_HashedTokens):
    def __init__(self, reads: Reads, writes: Writes) -> None:
        super().__init__(
            reads,
            writes,
            key=keys.refresh_token,
            hash_key=keys.refresh_token_hash,
            used_code="refresh_token_used",
        )

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        found = self._get_by_hash(token_hash)
        return _refresh_token(found) if found is not None else None

    def add(self, token: RefreshToken) -> None:
        self._add(token.id, token.token_hash, _rt(token), token.expires_at)


def _ott(token: OneTimeToken) -> dict[str, Any]:
    return {
        "entity": "one_time_token",
        "id": token.id,
        "user_id": token.user_id,
        "purpose": token.purpose.value,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at_time": token.expires_at,
        "used_at": token.used_at,
        "epoch": token.epoch,
    }


def _one_time_token(item: dict[str, Any]) -> OneTimeToken:
    created, expires = (
        codec.required_moment(item["created_at"]),
        codec.required_moment(item["expires_at_time"]),
    )
    return OneTimeToken(
        id=item["id"],
        user_id=item["user_id"],
        purpose=TokenPurpose(item["purpose"]),
        token_hash=item["token_hash"],
        created_at=created,
        expires_at=expires,
        used_at=codec.moment(item.get("used_at")),
        epoch=item.get("epoch", 0),
    )


def _rt(token: RefreshToken) -> dict[str, Any]:
    return {
        "entity": "refresh_token",
        "id": token.id,
        "session_id": token.session_id,
        "token_hash": token.token_hash,
        "issued_at": token.issued_at,
        "expires_at_time": token.expires_at,
        "parent_id": token.parent_id,
        "used_at": token.used_at,
    }


def _refresh_token(item: dict[str, Any]) -> RefreshToken:
    issued, expires = (
        codec.required_moment(item["issued_at"]),
        codec.required_moment(item["expires_at_time"]),
    )
    return RefreshToken(
        id=item["id"],
        session_id=item["session_id"],
        token_hash=item["token_hash"],
        issued_at=issued,
        expires_at=expires,
        parent_id=item.get("parent_id"),
        used_at=codec.moment(item.get("used_at")),
    )
