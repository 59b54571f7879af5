"""The conflict each precondition raises by default, shared by every store so that the same
failed precondition reads the same on SQLite, PostgreSQL, in memory and on DynamoDB."""

from __future__ import annotations

from tenantry.domain.errors import Conflict, TenantryError

_DETAILS = {
    "email_taken": "email is taken",
    "slug_taken": "the slug is taken",
    "already_member": "already a member",
    "organisation_changed": "the organisation changed meanwhile; read it again and retry",
    "membership_changed": "the membership changed meanwhile",
    "account_changed": "the account changed meanwhile; try again",
    "user_not_found": "user not found",
    "refresh_token_used": "refresh token already used",
    "token_used": "token already used",
    "session_revoked": "session has been revoked",
    "outbox_claimed": "another dispatcher claimed these emails",
    "key_state_changed": "the signing key changed state meanwhile",
    "job_exists": "this job was already asked for",
    "job_claimed": "another process started this job first",
    "access_changed": "the organisation's access changed meanwhile; try again",
    "role_name_taken": "a role of this organisation already has that name",
    "role_changed": "the role changed or was deleted meanwhile",
    "role_already_assigned": "the member already holds this role",
    "role_not_assigned": "the member does not hold this role",
    "team_name_taken": "a team of this organisation already has that name",
    "team_changed": "the team changed or was deleted meanwhile",
    "already_team_member": "already a member of the team",
    "not_team_member": "not a member of the team",
    "identity_already_linked": "this subject of the issuer is already linked to a user",
    "identity_link_changed": "the identity link was removed or changed meanwhile",
    "archive_moved": "another archive run moved the audit archive's mark meanwhile",
    "not_archived": "the archive does not reach that far: only archived events may be pruned",
    "invitation_pending": "a pending invitation for this address already exists; resend it",
    "invitation_changed": "the invitation was accepted, resent or revoked meanwhile",
    "conflict": "the change conflicts with stored data",
}


def conflict(code: str, on_conflict: TenantryError | None = None) -> TenantryError:
    """The error a failed precondition raises: the use case's own, else the store's default."""
    if on_conflict is not None:
        return on_conflict
    return Conflict(_DETAILS[code], code=code)
