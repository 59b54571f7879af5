"""Sessions, refresh tokens, the login throttle and the token signer.

A session is live while it is not revoked, not expired, and its `epoch` is the user's
session epoch: "log out everywhere" and a password change bump the user's epoch instead of
revoking every session row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page, RefreshToken, Session
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

    def list_live_for_user(
        self, user_id: str, *, now: datetime, min_epoch: int, limit: int, cursor: str | None
    ) -> Page[Session]:
        """The user's sessions live at `now`: not revoked, not expired, and begun in epoch
        `min_epoch` (the user's session epoch) or later. The store applies all three before it
        counts out the page. Newest first: by `created_at` descending, then by id.

        `cursor` is a `next_cursor` this store returned for a session list; anything else is
        `Invalid` `invalid_cursor`.
        """


class RefreshTokensRepository(Protocol):
    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...
    def add(self, token: RefreshToken) -> None: ...
    def mark_used(
        self, token_id: str, at: datetime, *, on_conflict: TenantryError | None = None
    ) -> None:
        """Precondition: not used yet (`Conflict` `refresh_token_used`): one rotation wins."""


class AttemptPurpose(StrEnum):
    """What a password is being tried for; each has its own (account, address) pair limit."""

    LOGIN = "login"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (the current one, on POST /v1/me/password)


class ThrottleLimit(StrEnum):
    """Which limit refused an attempt (for the audit trail, never for the client)."""

    PAIR = "pair"  # this account from this client address
    ACCOUNT = "account"  # this account from addresses it does not usually sign in from
    ADDRESS = "address"  # failed logins from this client address, whatever the account


@dataclass(frozen=True, slots=True)
class AttemptVerdict:
    """The throttle's answer to a password attempt.

    `wait` is the seconds to wait when the attempt is refused (`limit` says which limit), None
    when it may go ahead. `warn_owner` is true for the one attempt, per account window, that
    took the account past its soft limit: someone is trying passwords on it, and the owner
    should hear of it whatever this attempt's outcome.
    """

    wait: int | None = None
    limit: ThrottleLimit | None = None
    warn_owner: bool = False


class LoginThrottle(Protocol):
    """Limits on what anyone may ask without being signed in: password attempts (logins, and
    the current password on a password change), and requests that send an email.

    Every check is keyed by the (normalised) email as given, never by whether it has an
    account, so a limit behaves the same for an unknown email and reveals nothing.
    """

    def begin_attempt(
        self,
        *,
        email: str,
        ip_address: str | None,
        purpose: AttemptPurpose = AttemptPurpose.LOGIN,
    ) -> AttemptVerdict:
        """Check the limits and count the attempt, atomically per limit.

        Limits: the (account, address) pair for this purpose, tightly; the account from
        addresses that are not usual for it, loosely and with a growing delay; failed logins
        from the address (logins only, and not from an address usual for the account). A
        refused attempt is not counted, except by an attempt that lost a race for the last
        place under a limit.
        """

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        """A failed login also counts against the client address."""

    def record_success(
        self,
        *,
        email: str,
        ip_address: str | None,
        purpose: AttemptPurpose = AttemptPurpose.LOGIN,
    ) -> None:
        """The password was right: the pair's earlier attempts no longer count, an attempt
        counted against the account is given back, and after a login the address is usual for
        the account from now on."""

    def reset(self, *, email: str) -> None:
        """The mailbox owner reset the password: every count against the account starts
        again, at every address (its usual addresses stay usual)."""

    def begin_mail_request(self, *, email: str, ip_address: str | None) -> int | None:
        """Count a request that may send an email to `email` (sign-up, password-reset request,
        verification resend) against the address and the client address, atomically.

        Returns the seconds to wait when either is over its limit (the refused request is not
        counted), else None.
        """


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
