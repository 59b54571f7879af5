"""One-time tokens (email links) and refresh tokens on DynamoDB: each under its id, with an
item under its hash that names it, so that a link or a refresh finds its token by a strongly
consistent read (an index would be only eventually consistent). Both expire: `expires_at`
(the TTL attribute, in epoch seconds) lets DynamoDB delete them a day after they stop working.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import OneTimeToken, RefreshToken, TokenPurpose
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.keys import Key
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.table import TTL_ATTRIBUTE
from tenantry.store.dynamo.writes import Writes

# How long after it stops working an expired token is kept (for the audit of a late click).
KEPT_AFTER_EXPIRY = timedelta(days=1)


class DynamoOneTimeTokens:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get_by_hash(self, token_hash: str) -> OneTimeToken | None:
        found = _by_hash(self._reads, keys.one_time_token_hash(token_hash), keys.one_time_token)
        return _one_time_token(found) if found is not None else None

    def add(self, token: OneTimeToken) -> None:
        expiry = {TTL_ATTRIBUTE: _deletable_at(token.expires_at)}
        self._writes.put(keys.one_time_token(token.id), {**_ott(token), **expiry}, code="conflict")
        self._writes.put(
            keys.one_time_token_hash(token.token_hash),
            {"token_id": token.id, **expiry},
            code="conflict",
        )

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.update(
            keys.one_time_token(token_id),
            {"used_at": at},
            expect={"used_at": None},
            code="token_used",
            on_conflict=on_conflict,
        )


class DynamoRefreshTokens:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        found = _by_hash(self._reads, keys.refresh_token_hash(token_hash), keys.refresh_token)
        return _refresh_token(found) if found is not None else None

    def add(self, token: RefreshToken) -> None:
        expiry = {TTL_ATTRIBUTE: _deletable_at(token.expires_at)}
        values = {**_rt(token), **expiry}
        self._writes.put(keys.refresh_token(token.id), values, code="conflict")
        self._writes.put(
            keys.refresh_token_hash(token.token_hash),
            {"token_id": token.id, **expiry},
            code="conflict",
        )

    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.update(
            keys.refresh_token(token_id),
            {"used_at": at},
            expect={"used_at": None},
            code="refresh_token_used",
            on_conflict=on_conflict,
        )


def _by_hash(reads: Reads, hash_key: Key, key_of: Any) -> dict[str, Any] | None:
    holder = reads.get(hash_key)
    return reads.get(key_of(holder["token_id"])) if holder is not None else None


def _deletable_at(expires_at: datetime) -> int:
    return int((expires_at + KEPT_AFTER_EXPIRY).timestamp())


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
    created, expires = codec.moment(item["created_at"]), codec.moment(item["expires_at_time"])
    assert created is not None  # every token item has both times
    assert expires is not None
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
    issued, expires = codec.moment(item["issued_at"]), codec.moment(item["expires_at_time"])
    assert issued is not None  # every token item has both times
    assert expires is not None
    return RefreshToken(
        id=item["id"],
        session_id=item["session_id"],
        token_hash=item["token_hash"],
        issued_at=issued,
        expires_at=expires,
        parent_id=item.get("parent_id"),
        used_at=codec.moment(item.get("used_at")),
    )
