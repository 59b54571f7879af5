"""Sessions on DynamoDB: `SESSION#{id}`/`PROFILE`, in its user's list on GSI1 newest first.
A session expires: DynamoDB may delete it (TTL) a day after, so the writes that must leave a
missing session alone (a new epoch, a revocation) look it up first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page, Session
from tenantry.store.cursor import SESSIONS, decode_cursor, page_of, session_position
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.table import KEPT_AFTER_EXPIRY, TTL_ATTRIBUTE
from tenantry.store.dynamo.writes import Writes


class DynamoSessions:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, session_id: str) -> Session | None:
        found = self._reads.get(keys.session(session_id))
        return _session(found) if found is not None else None

    def add(self, session: Session) -> None:
        self._writes.put(keys.session(session.id), _attributes(session), code="conflict")

    def record_use(
        self,
        session_id: str,
        *,
        at: datetime,
        org_id: str | None,
        on_conflict: TenantryError | None = None,
    ) -> None:
        self._writes.update(
            keys.session(session_id),
            {"last_used_at": at, "org_id": org_id},
            expect={"revoked_at": None},
            code="session_revoked",
            on_conflict=on_conflict,
        )

    def set_epoch(self, session_id: str, epoch: int) -> None:
        if self._reads.get(keys.session(session_id)) is not None:
            self._writes.update(keys.session(session_id), {"epoch": epoch}, code="conflict")

    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None:
        if self._reads.get(keys.session(session_id)) is None:
            return
        # The first revocation stays: a second only sets what is not set yet.
        self._writes.update(
            keys.session(session_id),
            {"revoked_at": at, "revoked_reason": reason},
            keep_set=True,
            code="conflict",
        )

    def list_live_for_user(
        self, user_id: str, *, now: datetime, min_epoch: int, limit: int, cursor: str | None
    ) -> Page[Session]:
        after = decode_cursor(cursor, kind=SESSIONS) if cursor is not None else None
        end = keys.after_prefix(keys.SESSION_PREFIX)
        if after is not None:
            end = keys.session_index(user_id, after[0], after[1])["GSI1SK"]

        def live(item: dict[str, Any]) -> bool:
            session = _session(item)
            return (
                item["GSI1SK"] != end
                and session.revoked_at is None
                and session.expires_at > now
                and session.epoch >= min_epoch
            )

        found = self._reads.query(
            "GSI1PK = :pk AND GSI1SK BETWEEN :start AND :end",
            {"pk": f"USER#{user_id}", "start": keys.SESSION_PREFIX, "end": end},
            index="GSI1",
            keep=live,
            wanted=limit + 1,
            newest_first=True,
        )
        listed = [_session(item) for item in found]
        return page_of(listed, limit=limit, position=session_position, kind=SESSIONS)


def _attributes(session: Session) -> dict[str, Any]:
    return {
        "entity": "session",
        "id": session.id,
        "user_id": session.user_id,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at_time": session.expires_at,
        "org_id": session.org_id,
        "user_agent": session.user_agent,
        "ip_address": session.ip_address,
        "revoked_at": session.revoked_at,
        "revoked_reason": session.revoked_reason,
        "epoch": session.epoch,
        TTL_ATTRIBUTE: int((session.expires_at + KEPT_AFTER_EXPIRY).timestamp()),
        **keys.session_index(session.user_id, session.created_at, session.id),
    }


def _session(item: dict[str, Any]) -> Session:
    created = codec.required_moment(item["created_at"])
    used = codec.required_moment(item["last_used_at"])
    expires = codec.required_moment(item["expires_at_time"])
    return Session(
        id=item["id"],
        user_id=item["user_id"],
        created_at=created,
        last_used_at=used,
        expires_at=expires,
        org_id=item.get("org_id"),
        user_agent=item.get("user_agent"),
        ip_address=item.get("ip_address"),
        revoked_at=codec.moment(item.get("revoked_at")),
        revoked_reason=item.get("revoked_reason"),
        epoch=item.get("epoch", 0),
    )
