"""The invitations' wire shapes. No shape holds the token: it is only ever in the email."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.accounts.schemas import Email
from tenantry.domain.invitations import MAX_CUSTOM_ROLES, Invitation, InvitationStatus
from tenantry.domain.roles import OrgRole
from tenantry.http.wire import DISPLAY_NAME, Input
from tenantry.invitations.bulk import BulkOutcome, BulkRow, RowStatus
from tenantry.invitations.service import Acceptance, Binding, InvitationView
from tenantry.sessions.schemas import TokenPairOut
from tenantry.teams.schemas import TEAM_ROLE


class InvitationIn(Input):
    email: Email = Field(description="The address to invite, normalised as sign-up does.")
    org_role: OrgRole = Field(
        default=OrgRole.MEMBER,
        description="The organisation role on acceptance; only an OWNER invites an OWNER, and "
        "nobody invites above their own rank.",
    )
    role_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_CUSTOM_ROLES,
        description="Custom ORGANISATION roles (`rol_…`) assigned on acceptance; the inviter "
        "must hold every permission they grant (403 `permission_escalation`).",
    )
    team_id: str | None = Field(
        default=None, max_length=40, description="A team (`team_…`) joined on acceptance."
    )
    team_role: str | None = Field(
        default=None, max_length=40, description=f"With `team_id`; default `MEMBER`. {TEAM_ROLE}"
    )

    def row(self) -> BulkRow:
        return BulkRow(self.email, self.binding())

    def binding(self) -> Binding:
        return Binding(
            org_role=self.org_role,
            role_ids=tuple(self.role_ids),
            team_id=self.team_id,
            team_role=self.team_role,
        )


class InvitationOut(BaseModel):
    id: str = Field(description="`inv_…`.")
    email: str = Field(description="The invited address, normalised.")
    org_role: OrgRole = Field(description="The organisation role on acceptance.")
    role_ids: list[str] = Field(description="The custom roles assigned on acceptance.")
    team_id: str | None = Field(description="The team joined on acceptance, if any.")
    team_role: str | None = Field(description="The role in that team.")
    status: InvitationStatus = Field(
        description="`PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED` (a pending one past "
        "`expires_at`)."
    )
    invited_by: str = Field(description="The inviter's user id.")
    created_at: datetime = Field(description="When it was made.")
    expires_at: datetime = Field(description="When its link stops working.")
    resend_count: int = Field(description="How often it was sent again (each time a new link).")
    accepted_by: str | None = Field(description="The user who accepted it, if any.")

    @classmethod
    def of(cls, invitation: Invitation, now: datetime) -> InvitationOut:
        return cls(
            id=invitation.id,
            email=invitation.email,
            org_role=invitation.org_role,
            role_ids=list(invitation.role_ids),
            team_id=invitation.team_id,
            team_role=invitation.team_role,
            status=invitation.status_at(now),
            invited_by=invitation.invited_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            resend_count=invitation.resend_count,
            accepted_by=invitation.accepted_by,
        )


class InvitationPublicOut(BaseModel):
    """What anyone holding the link sees; nothing else about the organisation."""

    organisation_name: str = Field(description="The organisation's display name.")
    inviter_name: str = Field(description="Who invited: their name when they did.")
    org_role: OrgRole = Field(description="The organisation role on acceptance.")
    team_name: str | None = Field(description="The team joined on acceptance, if any.")
    expires_at: datetime = Field(description="When the link stops working.")
    status: InvitationStatus = Field(description="Only a `PENDING` invitation can be accepted.")

    @classmethod
    def of(cls, view: InvitationView) -> InvitationPublicOut:
        invitation = view.invitation
        return cls(
            organisation_name=view.org_name,
            inviter_name=invitation.inviter_name,
            org_role=invitation.org_role,
            team_name=view.team_name,
            expires_at=invitation.expires_at,
            status=view.status,
        )


class AcceptIn(Input):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=f"Without a bearer token: the new account's name. {DISPLAY_NAME}",
    )
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Without a bearer token: the new account's password (10 to 256 "
        "characters). The invited address counts as verified.",
    )


class AcceptedOut(BaseModel):
    invitation: InvitationOut = Field(description="The invitation, now `ACCEPTED`.")
    tokens: TokenPairOut = Field(description="Scoped to the organisation just joined.")

    @classmethod
    def of(cls, accepted: Acceptance, now: datetime) -> AcceptedOut:
        return cls(
            invitation=InvitationOut.of(accepted.invitation, now),
            tokens=TokenPairOut.of(accepted.tokens),
        )


class BulkIn(Input):
    invitations: list[InvitationIn] = Field(
        min_length=1,
        max_length=1000,
        description="The rows, each as the body of `POST …/invitations`; at most "
        "`TENANTRY_INVITATION_BULK_MAX` (100 by default).",
    )
    all_or_nothing: bool = Field(
        default=False,
        description="True: if any row fails, nothing is written. False: every row that "
        "passes is written.",
    )
    dry_run: bool = Field(
        default=False, description="True: only check the rows; nothing is written or sent."
    )


class BulkRowOut(BaseModel):
    row: int = Field(description="The row's place in the request, from 0.")
    email: str = Field(description="The address, normalised when it is valid.")
    status: RowStatus = Field(
        description="`created` (or would be, in a dry run), `duplicate` (a pending invitation, "
        "or the address twice in the request), `already_member`, `invalid`, `refused`."
    )
    code: str | None = Field(description="Why the row was not created: an error code.")
    detail: str | None = Field(description="The same, for people.")
    invitation: InvitationOut | None = Field(description="The invitation written, if any.")


class BulkOut(BaseModel):
    written: bool = Field(
        description="Whether anything was written: false for a dry run, and for an "
        "all-or-nothing request with a failed row."
    )
    rows: list[BulkRowOut] = Field(description="One result per row, in the request's order.")

    @classmethod
    def of(cls, outcome: BulkOutcome, now: datetime) -> BulkOut:
        return cls(
            written=outcome.written,
            rows=[
                BulkRowOut(
                    row=r.row,
                    email=r.email,
                    status=r.status,
                    code=r.code,
                    detail=r.detail,
                    invitation=InvitationOut.of(r.invitation, now) if r.invitation else None,
                )
                for r in outcome.rows
            ],
        )
