"""Identity links on DynamoDB: `IDENTITY#{issuer}`/`SUBJECT#{subject}`, in the list of all
links (GSI2) and in its user's (GSI1), both by issuer then subject."""

from __future__ import annotations

from typing import Any

from tenantry.domain.errors import TenantryError
from tenantry.identities.ports import IdentityLink, LinkMethod
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes


class DynamoIdentityLinks:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, issuer: str, subject: str) -> IdentityLink | None:
        found = self._reads.get(keys.identity_link(issuer, subject))
        return _link(found) if found is not None else None

    def list(
        self, *, user_id: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> list[IdentityLink]:
        position = f"{after[0]}\u0000{after[1]}" if after is not None else None
        if user_id is not None:
            index, sort = "GSI1", "GSI1SK"
            values: dict[str, Any] = {"pk": f"USER#{user_id}"}
            start = keys.IDENTITY_PREFIX + (position or "")
            values |= {"start": start, "end": keys.after_prefix(keys.IDENTITY_PREFIX)}
            condition = "GSI1PK = :pk AND GSI1SK BETWEEN :start AND :end"
        else:
            index, sort, start = "GSI2", "GSI2SK", position or ""
            values = {"pk": keys.IDENTITY_LINKS}
            condition = "GSI2PK = :pk"
            if position is not None:
                values["start"] = position
                condition += " AND GSI2SK >= :start"
        found = self._reads.query(
            condition,
            values,
            index=index,
            keep=lambda item: position is None or item[sort] != start,
            wanted=limit,
        )
        return [_link(item) for item in found]

    def add(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        self._writes.put(
            keys.identity_link(link.issuer, link.subject),
            _attributes(link),
            code="identity_already_linked",
            on_conflict=on_conflict,
        )

    def remove(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        self._writes.delete(
            keys.identity_link(link.issuer, link.subject),
            expect={"user_id": link.user_id},
            code="identity_link_changed",
            on_conflict=on_conflict,
        )


def _attributes(link: IdentityLink) -> dict[str, Any]:
    return {
        "entity": "identity_link",
        "issuer": link.issuer,
        "subject": link.subject,
        "user_id": link.user_id,
        "method": link.method.value,
        "created_at": link.created_at,
        **keys.identity_link_indexes(link.issuer, link.subject, link.user_id),
    }


def _link(item: dict[str, Any]) -> IdentityLink:
    created = codec.required_moment(item["created_at"])
    return IdentityLink(
        issuer=item["issuer"],
        subject=item["subject"],
        user_id=item["user_id"],
        method=LinkMethod(item["method"]),
        created_at=created,
    )
