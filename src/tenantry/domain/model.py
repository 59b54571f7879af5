"""The records tenantry keeps, as plain dataclasses. Stores map their rows to these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tenantry.domain.roles import OrgRole


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    created_at: datetime
    email_verified_at: datetime | None = None
    # Sessions begun in an older session epoch are over (log out everywhere, password change).
    session_epoch: int = 0
    # Password-reset links of an older reset epoch no longer work (a newer link was sent).
    reset_epoch: int = 0

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None


class OrgStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    slug: str
    name: str
    status: OrgStatus
    created_at: datetime
    created_by: str
    settings: dict[str, Any] = field(default_factory=dict)
    authz_epoch: int = 0
    version: int = 0  # bumped by every update: the precondition against lost updates
    provisioning_step: str | None = None
    provisioning_error: str | None = None
    # The Temporal workflow provisioning it (TENANTRY_WORKFLOWS=temporal), once it has begun.
    provisioning_workflow_id: str | None = None
    provisioning_run_id: str | None = None
    deleted_at: datetime | None = None
    status_changed_at: datetime | None = None


class MembershipStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


@dataclass(frozen=True, slots=True)
class Membership:
    org_id: str
    user_id: str
    org_role: OrgRole
    status: MembershipStatus
    joined_at: datetime
    ended_at: datetime | None = None
    # The member's email and name as they were at join time, so that a member list is one
    # read of the organisation's memberships (no join with users).
    email: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in on one device; its refresh tokens form one family."""

    id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    org_id: str | None = None
    user_agent: str | None = None
    ip_address: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    epoch: int = 0  # the user's session epoch when the session began

    def is_live(self, now: datetime, session_epoch: int) -> bool:
        """Not revoked, not expired, and not ended by a later session epoch of its user."""
        return self.revoked_at is None and now < self.expires_at and self.epoch >= session_epoch


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: str
    session_id: str
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    parent_id: str | None = None
    used_at: datetime | None = None


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose name, not a secret)


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    id: str
    user_id: str
    purpose: TokenPurpose
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    epoch: int = 0  # for password resets: the user's reset epoch when the link was made


class KeyState(StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key_encrypted: str
    state: KeyState
    created_at: datetime
    retired_at: datetime | None = None


class OutboxStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    DEAD = "DEAD"


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    kind: str
    # The left part of its Message-ID: the outbox entry's id, so that a resend after a crash
    # between sending and marking carries the same Message-ID. None: a fresh one.
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: str
    message: EmailMessage
    created_at: datetime
    next_attempt_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; `next_cursor` is opaque, made by the store, None on the last page."""

    items: list[T]
    next_cursor: str | None = None


class JobStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"


@dataclass(frozen=True, slots=True)
class Job:
    """Work to start after a commit (provisioning an organisation), written in the same
    transaction as the change that asks for it, so that a start is never lost.

    `id` is derived from what the job is for, so that asking twice is one job.
    """

    id: str
    kind: str
    subject_id: str
    actor_id: str
    created_at: datetime
    next_attempt_at: datetime
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    finished_at: datetime | None = None
