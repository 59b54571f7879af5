"""The builders of the invitations' endpoints (see `calls` for what a builder is)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tenantry.client.calls import (
    Call,
    given,
    org_path,
    page_of,
    paging,
    read_as,
    segment,
    written_as,
)
from tenantry.client.models import Page, Written
from tenantry.client.models_invitations import (
    Acceptance,
    BulkResult,
    Invitation,
    InvitationPreview,
)


def create_invitation(
    token: str,
    org_id: str,
    email: str,
    *,
    org_role: str = "MEMBER",
    role_ids: Sequence[str] = (),
    team_id: str | None = None,
    team_role: str | None = None,
) -> Call[Written[Invitation]]:
    """Invite `email`; the link is emailed, and is never in the answer."""
    body = {
        "email": email,
        "org_role": org_role,
        "role_ids": list(role_ids),
        **given(team_id=team_id, team_role=team_role),
    }
    path = org_path(org_id, "invitations")
    return Call("POST", path, written_as(Invitation.of), json=body, token=token)


def bulk_invite(
    token: str,
    org_id: str,
    invitations: Sequence[Mapping[str, Any]],
    *,
    all_or_nothing: bool = False,
    dry_run: bool = False,
) -> Call[Written[BulkResult]]:
    """Many invitations at once, each row as `create_invitation`'s body (`email`, `org_role`,
    `role_ids`, `team_id`, `team_role`); a result per row."""
    body = {
        "invitations": list(invitations),
        "all_or_nothing": all_or_nothing,
        "dry_run": dry_run,
    }
    path = org_path(org_id, "invitations", "bulk")
    return Call("POST", path, written_as(BulkResult.of), json=body, token=token)


def list_invitations(
    token: str,
    org_id: str,
    *,
    status: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[Page[Invitation]]:
    """By creation time; `status` is `PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED`."""
    query = {**given(status=status), **paging(limit, cursor)}
    path = org_path(org_id, "invitations")
    return Call("GET", path, page_of(Invitation.of), token=token, params=query)


def get_invitation(token: str, org_id: str, invitation_id: str) -> Call[Invitation]:
    path = org_path(org_id, "invitations", invitation_id)
    return Call("GET", path, read_as(Invitation.of), token=token)


def resend_invitation(token: str, org_id: str, invitation_id: str) -> Call[Invitation]:
    """A new link is emailed; the old one stops working at once."""
    path = org_path(org_id, "invitations", invitation_id, "resend")
    return Call("POST", path, read_as(Invitation.of), token=token)


def revoke_invitation(token: str, org_id: str, invitation_id: str) -> Call[Invitation]:
    path = org_path(org_id, "invitations", invitation_id)
    return Call("DELETE", path, read_as(Invitation.of), token=token)


def preview_invitation(invitation_token: str) -> Call[InvitationPreview]:
    """What the emailed link offers (no bearer token needed)."""
    path = f"/v1/invitations/{segment(invitation_token)}"
    return Call("GET", path, read_as(InvitationPreview.of))


def accept_invitation(
    invitation_token: str,
    *,
    token: str | None = None,
    name: str | None = None,
    password: str | None = None,
) -> Call[Acceptance]:
    """As the signed-in user `token` is for (the invited address, verified), or as a new
    account made of `name` and `password`."""
    path = f"/v1/invitations/{segment(invitation_token)}/accept"
    body = given(name=name, password=password)
    return Call("POST", path, read_as(Acceptance.of), json=body, token=token)
