"""The email outbox on DynamoDB: an item an entry, listed by status through GSI3.

The lists are only eventually consistent: an entry `due` shows may have been claimed since,
and the claim's condition (still PENDING, with the next attempt read) decides, so two
dispatchers never send the same entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tenantry.domain.ids import new_id
from tenantry.domain.model import EmailMessage, OutboxEntry, OutboxStatus
from tenantry.outbox.ports import OutboxStats
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes

_PENDING, _DEAD, _SENT = (
    f"{keys.OUTBOX}{status.value}"
    for status in (OutboxStatus.PENDING, OutboxStatus.DEAD, OutboxStatus.SENT)
)
_PAST_EVERY_ID = "#\uffff"  # after `<time>#<id>` for every id


class DynamoOutbox:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def add(self, message: EmailMessage, *, at: datetime) -> None:
        entry = OutboxEntry(id=new_id("msg"), message=message, created_at=at, next_attempt_at=at)
        self._writes.put(keys.outbox_entry(entry.id), _attributes(entry), code="conflict")

    def get(self, entry_id: str) -> OutboxEntry | None:
        found = self._reads.get(keys.outbox_entry(entry_id))
        return _entry(found) if found is not None else None

    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        found = self._reads.query(
            "GSI3PK = :pk AND GSI3SK <= :now",
            {"pk": _PENDING, "now": keys.sortable(now) + _PAST_EVERY_ID},
            index="GSI3",
            wanted=limit,
        )
        return [_entry(item) for item in found]

    def waiting(self, after: datetime, *, limit: int) -> list[OutboxEntry]:
        found = self._reads.query(
            "GSI3PK = :pk AND GSI3SK > :after",
            {"pk": _PENDING, "after": keys.sortable(after) + _PAST_EVERY_ID},
            index="GSI3",
            keep=lambda item: item.get("attempts", 0) > 0,
            wanted=limit,
        )
        return [_entry(item) for item in found]

    def dead(self, *, limit: int) -> list[OutboxEntry]:
        found = self._reads.query(
            "GSI3PK = :pk",
            {"pk": _DEAD},
            index="GSI3",
            keep=lambda item: bool(item.get("text_body")),
            wanted=limit,
        )
        return [_entry(item) for item in found]

    def stats(self, now: datetime) -> OutboxStats:
        # The pending entries are read (a dispatcher keeps them few); the dead and the sent
        # are only counted. DynamoDB has no aggregate read: this is three queries.
        listed = self._reads.query("GSI3PK = :pk", {"pk": _PENDING}, index="GSI3")
        pending = [_entry(item) for item in listed]
        return OutboxStats(
            pending=len(pending),
            due=sum(1 for entry in pending if entry.next_attempt_at <= now),
            dead=self._reads.count("GSI3PK = :pk", {"pk": _DEAD}, index="GSI3"),
            sent=self._reads.count("GSI3PK = :pk", {"pk": _SENT}, index="GSI3"),
            oldest_pending_at=min((entry.created_at for entry in pending), default=None),
        )

    def claim(self, entries: Sequence[OutboxEntry], *, until: datetime) -> None:
        for entry in entries:
            self._pending_again(entry, until, {})

    def make_due(self, entry: OutboxEntry, *, at: datetime) -> None:
        self._pending_again(entry, at, {"attempts": 0}, was=entry.status)

    def mark_sent(self, entry_id: str, *, at: datetime) -> None:
        stored = self._reads.get(keys.outbox_entry(entry_id))
        if stored is None:
            return
        entry = _entry(stored)
        # The bodies carry one-time links: once delivered they are not kept.
        sent = {"status": OutboxStatus.SENT.value, "sent_at": at, "text_body": "", "html_body": ""}
        index = keys.outbox_index(OutboxStatus.SENT.value, entry.next_attempt_at, entry_id)
        self._writes.update(keys.outbox_entry(entry_id), {**sent, **index}, code="conflict")

    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None:
        # A dead entry keeps its bodies for `outbox retry --dead`.
        status = OutboxStatus.DEAD if dead else OutboxStatus.PENDING
        failed = {
            "status": status.value,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
            "last_error": error[:1000],
            **keys.outbox_index(status.value, next_attempt_at, entry_id),
        }
        self._writes.update(keys.outbox_entry(entry_id), failed, code="conflict")

    def _pending_again(
        self,
        entry: OutboxEntry,
        next_attempt_at: datetime,
        also: dict[str, Any],
        *,
        was: OutboxStatus = OutboxStatus.PENDING,
    ) -> None:
        """The entry as read (in status `was`, with its next attempt) PENDING, due at
        `next_attempt_at`; Conflict `outbox_claimed` if another dispatcher moved it first."""
        pending = OutboxStatus.PENDING.value
        self._writes.update(
            keys.outbox_entry(entry.id),
            {
                "status": pending,
                "next_attempt_at": next_attempt_at,
                **also,
                **keys.outbox_index(pending, next_attempt_at, entry.id),
            },
            expect={"status": was.value, "next_attempt_at": entry.next_attempt_at},
            code="outbox_claimed",
        )


def _attributes(entry: OutboxEntry) -> dict[str, Any]:
    message = entry.message
    return {
        "entity": "outbox_entry",
        "id": entry.id,
        "kind": message.kind,
        "recipient": message.to,
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "created_at": entry.created_at,
        "next_attempt_at": entry.next_attempt_at,
        "status": entry.status.value,
        "attempts": entry.attempts,
        "sent_at": entry.sent_at,
        "last_error": entry.last_error,
        **keys.outbox_index(entry.status.value, entry.next_attempt_at, entry.id),
    }


def _entry(item: dict[str, Any]) -> OutboxEntry:
    message = EmailMessage(
        to=item["recipient"],
        subject=item["subject"],
        text=item.get("text_body", ""),
        html=item.get("html_body", ""),
        kind=item["kind"],
    )
    return OutboxEntry(
        id=item["id"],
        message=message,
        created_at=codec.required_moment(item["created_at"]),
        next_attempt_at=codec.required_moment(item["next_attempt_at"]),
        status=OutboxStatus(item["status"]),
        attempts=item.get("attempts", 0),
        sent_at=codec.moment(item.get("sent_at")),
        last_error=item.get("last_error"),
    )
