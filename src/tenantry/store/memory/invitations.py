"""Invitations in memory."""

from __future__ import annotations

from datetime import datetime

from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import Page
from tenantry.store.cursor import INVITATIONS, decode_cursor, invitation_position, page_of, scoped
from tenantry.store.memory.cursor import follows
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction

PENDING = InvitationStatus.PENDING


def _invitations(state: MemoryState) -> dict[tuple[str, str], Invitation]:
    return state.invitations


def _pending_address(invitation: Invitation) -> object:
    """What the SQL partial unique index on (org_id, email) WHERE status = PENDING holds."""
    if invitation.status is PENDING:
        return (invitation.org_id, invitation.email)
    return ("ended", invitation.org_id, invitation.id)


class MemoryInvitations:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _invitations)

    def get(self, org_id: str, invitation_id: str) -> Invitation | None:
        return self._table.get((org_id, invitation_id))

    def get_by_token_hash(self, org_id: str, token_hash: str) -> Invitation | None:
        return self._table.first(lambda i: i.org_id == org_id and i.token_hash == token_hash)

    def pending_for(self, org_id: str, email: str) -> Invitation | None:
        return self._table.first(
            lambda i: i.org_id == org_id and i.email == email and i.status is PENDING
        )

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
        found = self._table.select(
            lambda i: (
                i.org_id == org_id
                and status in (None, i.status_at(now))
                and follows(invitation_position(i), after)
            )
        )
        listed = sorted(found, key=invitation_position)
        return page_of(listed, limit=limit, position=invitation_position, kind=kind)

    def count_created_since(self, org_id: str, since: datetime) -> int:
        return len(self._table.select(lambda i: i.org_id == org_id and i.created_at >= since))

    def add(self, invitation: Invitation) -> None:
        key = (invitation.org_id, invitation.id)
        self._table.insert(key, invitation, code="invitation_pending", unique=_pending_address)

    def update(self, invitation: Invitation, *, expected: Invitation) -> None:
        def unchanged(stored: Invitation) -> bool:
            return stored.status is PENDING and stored.token_hash == expected.token_hash

        self._table.update(
            (invitation.org_id, invitation.id),
            lambda _stored: invitation,
            precondition=unchanged,
            code="invitation_changed",
        )
