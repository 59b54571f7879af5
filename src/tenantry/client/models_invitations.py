"""The wire shapes of invitations. Field names are the server's (`invitations/schemas.py`);
no shape holds an invitation's token, which is only ever in the email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tenantry.client.models import Body, TokenPair, moment


@dataclass(frozen=True)
class Invitation:
    id: str
    email: str
    org_role: str
    role_ids: tuple[str, ...]
    team_id: str | None
    team_role: str | None
    status: str  # `PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED`
    invited_by: str
    created_at: datetime
    expires_at: datetime
    resend_count: int
    accepted_by: str | None

    @classmethod
    def of(cls, body: Body) -> Invitation:
        return cls(
            id=body["id"],
            email=body["email"],
            org_role=body["org_role"],
            role_ids=tuple(body["role_ids"]),
            team_id=body["team_id"],
            team_role=body["team_role"],
            status=body["status"],
            invited_by=body["invited_by"],
            created_at=moment(body["created_at"]),
            expires_at=moment(body["expires_at"]),
            resend_count=int(body["resend_count"]),
            accepted_by=body["accepted_by"],
        )


@dataclass(frozen=True)
class InvitationPreview:
    """What the link offers, as anyone holding it sees it."""

    organisation_name: str
    inviter_name: str
    org_role: str
    team_name: str | None
    expires_at: datetime
    status: str

    @classmethod
    def of(cls, body: Body) -> InvitationPreview:
        return cls(
            organisation_name=body["organisation_name"],
            inviter_name=body["inviter_name"],
            org_role=body["org_role"],
            team_name=body["team_name"],
            expires_at=moment(body["expires_at"]),
            status=body["status"],
        )


@dataclass(frozen=True)
class Acceptance:
    invitation: Invitation
    tokens: TokenPair  # scoped to the organisation just joined

    @classmethod
    def of(cls, body: Body) -> Acceptance:
        return cls(
            invitation=Invitation.of(body["invitation"]), tokens=TokenPair.of(body["tokens"])
        )


@dataclass(frozen=True)
class BulkRowResult:
    row: int
    email: str
    status: str  # `created`, `duplicate`, `already_member`, `invalid` or `refused`
    code: str | None
    detail: str | None
    invitation: Invitation | None

    @classmethod
    def of(cls, body: Body) -> BulkRowResult:
        made = body["invitation"]
        return cls(
            row=int(body["row"]),
            email=body["email"],
            status=body["status"],
            code=body["code"],
            detail=body["detail"],
            invitation=Invitation.of(made) if made else None,
        )


@dataclass(frozen=True)
class BulkResult:
    written: bool  # false for a dry run, or an all-or-nothing request with a failed row
    rows: tuple[BulkRowResult, ...]

    @classmethod
    def of(cls, body: Body) -> BulkResult:
        return cls(
            written=bool(body["written"]), rows=tuple(BulkRowResult.of(r) for r in body["rows"])
        )
