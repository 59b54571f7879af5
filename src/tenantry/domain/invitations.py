"""Invitations: an email address asked to join an organisation with a role, custom roles and
a team bound at creation. No user exists for the address until the invitation is accepted.

The token is `{org_id}.{secret}`: the secret (256 bits) proves the bearer was sent the link,
and the organisation's id lets the store find it inside that tenant only. Only its hash is
stored; the token itself appears in the email and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tenantry.domain.ids import hash_secret, new_secret_token
from tenantry.domain.roles import OrgRole

MAX_CUSTOM_ROLES = 20
_SEPARATOR = "."


class InvitationStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"  # a PENDING invitation past its expiry, as a reader sees it


@dataclass(frozen=True, slots=True)
class Invitation:
    id: str
    org_id: str
    email: str  # normalised as sign-up normalises it
    org_role: OrgRole
    role_ids: tuple[str, ...]
    team_id: str | None
    team_role: str | None
    invited_by: str
    inviter_name: str
    token_hash: str
    status: InvitationStatus  # as stored: an expired one may still say PENDING
    created_at: datetime
    expires_at: datetime
    last_sent_at: datetime
    resend_count: int = 0
    accepted_by: str | None = None
    ended_at: datetime | None = None  # accepted, revoked or found expired

    def status_at(self, now: datetime) -> InvitationStatus:
        if self.status is InvitationStatus.PENDING and now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return self.status

    def resent(self, token_hash: str, *, now: datetime, expires_at: datetime) -> Invitation:
        """The invitation under a new token (the old one dead), sent again now."""
        return replace(
            self,
            token_hash=token_hash,
            last_sent_at=now,
            expires_at=expires_at,
            resend_count=self.resend_count + 1,
        )

    def ended(
        self, status: InvitationStatus, *, now: datetime, by: str | None = None
    ) -> Invitation:
        return replace(self, status=status, ended_at=now, accepted_by=by)


def new_invitation_token(org_id: str) -> tuple[str, str]:
    """A fresh token for an invitation of `org_id`, and the hash that is stored."""
    token = f"{org_id}{_SEPARATOR}{new_secret_token()}"
    return token, hash_secret(token)


def org_of_token(token: str) -> str | None:
    """The organisation a token names, or None if it is no invitation token's shape."""
    org_id, separator, secret = token.partition(_SEPARATOR)
    if not separator or not org_id.startswith("org_") or len(org_id) > 40 or len(secret) < 32:
        return None
    return org_id
