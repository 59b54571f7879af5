"""Users on DynamoDB: `USER#{id}`/`PROFILE`, and `EMAIL#{address}`/`UNIQUE` holding the one
user with that address (written in the same transaction, on the condition that none holds it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import User
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoUsers:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, user_id: str) -> User | None:
        found = self._reads.get(keys.user(user_id))
        return _user(found) if found is not None else None

    def get_by_email(self, email: str) -> User | None:
        holder = self._reads.get(keys.email(email))
        return self.get(holder["user_id"]) if holder is not None else None

    def add(self, user: User) -> None:
        self._writes.put(keys.user(user.id), _attributes(user), code="email_taken")
        self._writes.put(keys.email(user.email), {"user_id": user.id}, code="email_taken")

    def require_exists(self, user_id: str, *, on_conflict: TenantryError | None = None) -> None:
        self._writes.check(keys.user(user_id), code="user_not_found", on_conflict=on_conflict)

    def set_password_hash(
        self,
        user_id: str,
        password_hash: str,
        *,
        expected_hash: str,
        on_conflict: TenantryError | None = None,
    ) -> None:
        self._writes.update(
            keys.user(user_id),
            {"password_hash": password_hash},
            expect={"password_hash": expected_hash},
            code="account_changed",
            on_conflict=on_conflict,
        )

    def mark_verified(self, user_id: str, at: datetime) -> None:
        self._writes.update(keys.user(user_id), {"email_verified_at": at}, code="user_not_found")

    def bump_session_epoch(
        self, user_id: str, *, expected: int, on_conflict: TenantryError | None = None
    ) -> None:
        self._writes.update(
            keys.user(user_id),
            {"session_epoch": expected + 1},
            expect={"session_epoch": expected},
            code="account_changed",
            on_conflict=on_conflict,
        )

    def set_reset_epoch(self, user_id: str, epoch: int) -> None:
        # No precondition, and a missing user changes nothing (as an SQL UPDATE of no row);
        # an update of a missing item would make a partial one, and a condition on it would
        # cancel the whole transaction, so it is looked up first (users are never deleted).
        if self._reads.get(keys.user(user_id)) is None:
            return
        self._writes.update(keys.user(user_id), {"reset_epoch": epoch}, code="user_not_found")


def _attributes(user: User) -> dict[str, Any]:
    return {
        "entity": "user",
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "email_verified_at": user.email_verified_at,
        "session_epoch": user.session_epoch,
        "reset_epoch": user.reset_epoch,
    }


def _user(item: dict[str, Any]) -> User:
    created = codec.required_moment(item["created_at"])
    return User(
        id=item["id"],
        email=item["email"],
        name=item["name"],
        password_hash=item["password_hash"],
        created_at=created,
        email_verified_at=codec.moment(item.get("email_verified_at")),
        session_epoch=item.get("session_epoch", 0),
        reset_epoch=item.get("reset_epoch", 0),
    )
