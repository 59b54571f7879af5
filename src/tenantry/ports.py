"""The ports services depend on, in domain terms. No SQL or boto3 object crosses them.

Write methods carry their preconditions and raise `Conflict` when one fails, so that a store
can apply a use case's writes as one conditional batch (a SQL transaction, or one DynamoDB
TransactWriteItems). Services read first, decide, then write; they never read back their own
uncommitted writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from tenantry.domain.audit import AuditDraft, AuditEvent, Outcome
from tenantry.domain.model import (
    EmailMessage,
    KeyState,
    Membership,
    MemberView,
    OneTimeToken,
    Organisation,
    OutboxEntry,
    RefreshToken,
    Session,
    SigningKey,
    TokenPurpose,
    User,
)
from tenantry.domain.roles import OrgRole


class Clock(Protocol):
    def now(self) -> datetime: ...


class UsersRepository(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def get_by_email(self, email: str) -> User | None: ...
    def add(self, user: User) -> None:
        """Precondition: no user has this email (`Conflict` code `email_taken`)."""

    def set_password_hash(self, user_id: str, password_hash: str) -> None: ...
    def mark_verified(self, user_id: str, at: datetime) -> None: ...


class OrganisationsRepository(Protocol):
    def get(self, org_id: str) -> Organisation | None: ...
    def add(self, org: Organisation) -> None:
        """Precondition: the slug is free (`Conflict` code `slug_taken`)."""

    def update(self, org: Organisation, *, expected_version: int) -> None:
        """Write name, settings, status, provisioning fields, deleted_at and version.

        Precondition: the stored version is still `expected_version`, i.e. nobody changed the
        organisation since it was read (`Conflict` `organisation_changed`).
        """

    def list_for_user(self, user_id: str) -> list[tuple[Organisation, Membership]]:
        """The user's active memberships with their (not deleted) organisations."""


@dataclass(frozen=True, slots=True)
class MemberCursor:
    joined_at: datetime
    user_id: str


class MembershipsRepository(Protocol):
    def get(self, org_id: str, user_id: str) -> Membership | None: ...
    def add(self, membership: Membership) -> None:
        """Precondition: no membership row for (org, user) (`Conflict` `already_member`)."""

    def end_all(self, org_id: str, at: datetime) -> int: ...
    def list_members(
        self, org_id: str, *, limit: int, after: MemberCursor | None
    ) -> list[MemberView]: ...


class SessionsRepository(Protocol):
    def get(self, session_id: str) -> Session | None: ...
    def add(self, session: Session) -> None: ...
    def record_use(self, session_id: str, *, at: datetime, org_id: str | None) -> None: ...
    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None: ...
    def revoke_all_for_user(self, user_id: str, *, at: datetime, reason: str) -> int: ...
    def list_live_for_user(self, user_id: str, now: datetime) -> list[Session]: ...


class RefreshTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...
    def add(self, token: RefreshToken) -> None: ...
    def mark_used(self, token_id: str, at: datetime) -> None:
        """Precondition: not used yet (`Conflict` `refresh_token_used`): one rotation wins."""


class OneTimeTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> OneTimeToken | None: ...
    def add(self, token: OneTimeToken) -> None: ...
    def mark_used(self, token_id: str, at: datetime) -> None:
        """Precondition: not used yet (`Conflict` `token_used`)."""

    def expire_unused(self, user_id: str, purpose: TokenPurpose, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    org_id: str | None
    actor_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    limit: int = 100


class AuditRepository(Protocol):
    def append(self, draft: AuditDraft, *, at: datetime) -> None: ...
    def find(self, query: AuditQuery) -> list[AuditEvent]: ...


class OutboxRepository(Protocol):
    def add(self, message: EmailMessage, *, at: datetime) -> None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """Pending entries whose next attempt is due, claimed for this dispatcher."""

    def mark_sent(self, entry_id: str, *, at: datetime) -> None: ...
    def mark_failed(
        self, entry_id: str, *, attempts: int, next_attempt_at: datetime, error: str, dead: bool
    ) -> None: ...


class SigningKeysRepository(Protocol):
    def list(self) -> list[SigningKey]: ...
    def add(self, key: SigningKey) -> None: ...
    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Opened by the edge, committed once by the edge, never below it."""

    users: UsersRepository
    organisations: OrganisationsRepository
    memberships: MembershipsRepository
    sessions: SessionsRepository
    refresh_tokens: RefreshTokensRepository
    one_time_tokens: OneTimeTokensRepository
    audit: AuditRepository
    outbox: OutboxRepository
    signing_keys: SigningKeysRepository

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Scope the transaction to a tenant and a user (PostgreSQL sets `app.org_id`)."""

    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
        read_only: bool = False,
    ) -> UnitOfWork: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    def burn(self, password: str) -> None:
        """Spend the time of one verification, for unknown accounts."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class LoginThrottle(Protocol):
    def begin_attempt(self, *, email: str, ip_address: str | None) -> int | None:
        """Count a password attempt against the account, atomically, and check the address.

        Returns the seconds to wait when the account or the address is over its limit (the
        refused attempt is not counted), else None.
        """

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        """A failed attempt also counts against the client address."""

    def reset(self, *, email: str) -> None:
        """The account proved its password: its earlier attempts no longer count."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    token_id: str
    issued_at: datetime
    expires_at: datetime
    org_id: str | None = None
    org_role: OrgRole | None = None


class TokenSigner(Protocol):
    def issue_access_token(self, claims: AccessClaims) -> str: ...
    def verify_access_token(self, token: str) -> AccessClaims:
        """Raise `Unauthenticated` for a bad signature, wrong issuer/audience or expiry."""

    def public_jwks(self) -> dict[str, object]: ...
