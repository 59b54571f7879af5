"""Invitations, as reads a single-table store can serve: all of one organisation's in one
partition, found by id, by token hash or by address."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import Page


class InvitationsRepository(Protocol):
    def get(self, org_id: str, invitation_id: str) -> Invitation | None: ...
    def get_by_token_hash(self, org_id: str, token_hash: str) -> Invitation | None: ...
    def pending_for(self, org_id: str, email: str) -> Invitation | None:
        """The invitation stored as PENDING for the address, expired or not."""

    def list(
        self,
        org_id: str,
        *,
        status: InvitationStatus | None,
        now: datetime,
        limit: int,
        cursor: str | None,
    ) -> Page[Invitation]:
        """By creation time, then id; `status` EXPIRED means stored PENDING and expired at
        `now`, PENDING the ones not expired. `cursor` is a `next_cursor` this store returned
        for the same organisation; else `Invalid` `invalid_cursor`."""

    def count_created_since(self, org_id: str, since: datetime) -> int: ...
    def add(self, invitation: Invitation) -> None:
        """Precondition: no other invitation of the organisation is stored PENDING for the
        address (`Conflict` `invitation_pending`)."""

    def update(self, invitation: Invitation, *, expected: Invitation) -> None:
        """Write status, token hash, expiry, sending fields and the ending.

        Precondition: the stored invitation is still PENDING under `expected`'s token hash
        (`Conflict` `invitation_changed`): an accept and a resend or revoke of the same
        invitation never both commit, nor do two accepts."""
