"""What use cases need besides the unit of work, built once by `tenantry.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tenantry.accounts.ports import MessageComposer, PasswordHasher
from tenantry.clock import Clock
from tenantry.sessions.ports import LoginThrottle, TokenSigner


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    email_token_ttl: timedelta
    reset_token_ttl: timedelta
    require_verified_email: bool
    min_password_length: int = 10
    max_password_length: int = 256
    max_sessions_per_user: int = 50
    max_organisations_per_user_per_day: int = 10
    # Sign-up answers 201 with the user and 409 `email_taken` instead of 202 either way.
    signup_reveals_existing: bool = False
    # New accounts may have addresses at special-use domains (.test, .local, localhost...).
    allow_special_use_email_domains: bool = True
    invitation_ttl: timedelta = timedelta(days=7)
    invitations_per_org_per_day: int = 500
    invitation_resends: int = 5  # how often one invitation may be sent again
    invitation_bulk_max: int = 100  # rows in one bulk request


@dataclass(frozen=True, slots=True)
class ServiceDeps:
    clock: Clock
    passwords: PasswordHasher
    signer: TokenSigner
    throttle: LoginThrottle
    policy: AccountPolicy
    composer: MessageComposer
