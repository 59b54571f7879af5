"""Identity links: the tenantry user an external issuer's subject is. A link belongs to no
organisation (as a user does not), and is written once: unlinking removes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tenantry.domain.errors import TenantryError

MAX_ISSUER_LENGTH = 255
MAX_SUBJECT_LENGTH = 255


class LinkMethod(StrEnum):
    VERIFIED_EMAIL = "verified_email"  # on first use: the token's verified email is the user's
    OPERATOR = "operator"  # `tenantry identity link`


@dataclass(frozen=True, slots=True)
class IdentityLink:
    issuer: str  # the issuer's `iss`, exactly
    subject: str  # its `sub`
    user_id: str
    method: LinkMethod
    created_at: datetime


class IdentityLinksRepository(Protocol):
    def get(self, issuer: str, subject: str) -> IdentityLink | None: ...
    def list(
        self, *, user_id: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> list[IdentityLink]:
        """Up to `limit` links (of one user, with `user_id`) by issuer, then subject, compared
        as code points; with `after`, only those that sort after that (issuer, subject)."""

    def add(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        """Precondition: the issuer's subject is not linked yet (`Conflict`
        `identity_already_linked`), so two first uses racing each other link it once."""

    def remove(self, link: IdentityLink, *, on_conflict: TenantryError | None = None) -> None:
        """Precondition: the link is still there, to the same user (`Conflict`
        `identity_link_changed`)."""
