"""Invitations on DynamoDB: each in its organisation's partition and list (GSI2), with an item
under its current token's hash that names it, and while it is PENDING one under its address
that names it too (the one pending invitation an address and organisation may have)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import Page
from tenantry.domain.roles import OrgRole
from tenantry.store.cursor import INVITATIONS, decode_cursor, invitation_position, page_of, scoped
from tenantry.store.dynamo import codec, keys
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.writes import Writes

PENDING = InvitationStatus.PENDING


class DynamoInvitations:
    def __init__(self, reads: Reads, writes: Writes) -> None:
        self._reads = reads
        self._writes = writes

    def get(self, org_id: str, invitation_id: str) -> Invitation | None:
        found = self._reads.get(keys.invitation(org_id, invitation_id))
        return _invitation(found) if found is not None else None

    def get_by_token_hash(self, org_id: str, token_hash: str) -> Invitation | None:
        holder = self._reads.get(keys.invitation_token(org_id, token_hash))
        found = self.get(org_id, holder["invitation_id"]) if holder is not None else None
        return found if found is not None and found.token_hash == token_hash else None

    def pending_for(self, org_id: str, email: str) -> Invitation | None:
        holder = self._reads.get(keys.pending_invitation(org_id, email))
        found = self.get(org_id, holder["invitation_id"]) if holder is not None else None
        return found if found is not None and found.status is PENDING else None

    def list(
        self,
        org_id: str,
        *,
        status: InvitationStatus | None,
        now: datetime,
        limit: int,
        cursor: str | None,
    ) -> Page[Invitation]:
        kind = scoped(INVITATIONS, org_id)
        after = decode_cursor(cursor, kind=kind) if cursor is not None else None
        values: dict[str, Any] = {"pk": f"ORG#{org_id}#INVITATIONS"}
        condition = "GSI2PK = :pk"
        if after is not None:
            values["start"] = f"{keys.sortable(after[0])}#{after[1]}"
            condition += " AND GSI2SK > :start"
        found = self._reads.query(
            condition,
            values,
            index="GSI2",
            keep=lambda item: status in (None, _invitation(item).status_at(now)),
            wanted=limit + 1,
        )
        listed = [_invitation(item) for item in found]
        return page_of(listed, limit=limit, position=invitation_position, kind=kind)

    def count_created_since(self, org_id: str, since: datetime) -> int:
        found = self._reads.query(
            "GSI2PK = :pk AND GSI2SK >= :since",
            {"pk": f"ORG#{org_id}#INVITATIONS", "since": keys.sortable(since)},
            index="GSI2",
        )
        return len(found)

    def add(self, invitation: Invitation) -> None:
        i = invitation
        self._writes.put(keys.invitation(i.org_id, i.id), _attributes(i), code="conflict")
        self._writes.put(
            keys.invitation_token(i.org_id, i.token_hash), {"invitation_id": i.id}, code="conflict"
        )
        if i.status is PENDING:
            self._writes.put(
                keys.pending_invitation(i.org_id, i.email),
                {"invitation_id": i.id},
                code="invitation_pending",
            )

    def update(self, invitation: Invitation, *, expected: Invitation) -> None:
        i, code = invitation, "invitation_changed"
        self._writes.update(
            keys.invitation(i.org_id, i.id),
            _attributes(i),
            expect={"status": PENDING.value, "token_hash": expected.token_hash},
            code=code,
        )
        if i.token_hash != expected.token_hash:  # resent: the old link dies with its item
            old = keys.invitation_token(i.org_id, expected.token_hash)
            self._writes.delete(old, expect={"invitation_id": i.id}, code=code)
            new = keys.invitation_token(i.org_id, i.token_hash)
            self._writes.put(new, {"invitation_id": i.id}, code=code)
        if i.status is not PENDING:  # ended: the address may be invited again
            pending = keys.pending_invitation(i.org_id, expected.email)
            self._writes.delete(pending, expect={"invitation_id": i.id}, code=code)


def _attributes(i: Invitation) -> dict[str, Any]:
    return {
        "entity": "invitation",
        "id": i.id,
        "org_id": i.org_id,
        "email": i.email,
        "org_role": i.org_role.value,
        "role_ids": list(i.role_ids),
        "team_id": i.team_id,
        "team_role": i.team_role,
        "invited_by": i.invited_by,
        "inviter_name": i.inviter_name,
        "token_hash": i.token_hash,
        "status": i.status.value,
        "created_at": i.created_at,
        "expires_at_time": i.expires_at,
        "last_sent_at": i.last_sent_at,
        "resend_count": i.resend_count,
        "accepted_by": i.accepted_by,
        "ended_at": i.ended_at,
        **keys.invitation_index(i.org_id, i.created_at, i.id),
    }


def _invitation(item: dict[str, Any]) -> Invitation:
    created = codec.required_moment(item["created_at"])
    expires = codec.required_moment(item["expires_at_time"])
    sent = codec.required_moment(item["last_sent_at"])
    return Invitation(
        id=item["id"],
        org_id=item["org_id"],
        email=item["email"],
        org_role=OrgRole(item["org_role"]),
        role_ids=tuple(item.get("role_ids") or ()),
        team_id=item.get("team_id"),
        team_role=item.get("team_role"),
        invited_by=item["invited_by"],
        inviter_name=item["inviter_name"],
        token_hash=item["token_hash"],
        status=InvitationStatus(item["status"]),
        created_at=created,
        expires_at=expires,
        last_sent_at=sent,
        resend_count=item.get("resend_count", 0),
        accepted_by=item.get("accepted_by"),
        ended_at=codec.moment(item.get("ended_at")),
    )
