"""Sessions, refresh tokens, the login throttle and the token signer.

A session is live while it is not revoked, not expired, and its `epoch` is the user's
session epoch: "log out everywhere" and a password change bump the user's epoch instead of
revoking every session row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import RefreshToken, Session
from tenantry.domain.roles import OrgRole


class SessionsRepository(Protocol):
    def get(self, session_id: str) -> Session | None: ...
    def add(self, session: Session) -> None: ...
    def record_use(
        self,
        session_id: str,
        *,
        at: datetime,
        org_id: str | None,
        on_conflict: TenantryError | None = None,
    ) -> None:
        """Precondition: the session is not revoked (`Conflict` `session_revoked`)."""

    def set_epoch(self, session_id: str, epoch: int) -> None:
        """Carry the session into a new user epoch (the one that changed the password)."""

    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None:
        """Idempotent: revoking a revoked session keeps its first revocation."""

    def list_unexpired_for_user(self, user_id: str, now: datetime) -> list[Session]:
        """The user's sessions that are neither revoked nor expired, newest first; the
        caller applies the epoch."""


class RefreshTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...
    def add(self, token: RefreshToken) -> None: ...
    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        """Precondition: not used yet (`Conflict` `refresh_token_used`): one rotation wins."""


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
