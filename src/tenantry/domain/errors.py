"""The one error tree. Every refusal tenantry makes is one of these, with a stable code.

The HTTP layer maps each class to a status once (`tenantry.http.errors`); the CLI prints the
code and detail. An error may carry the audit event that records the refusal and an
`aftermath`: writes that must survive the rollback (for example revoking a token family
after refresh-token reuse). The edge runs both in a small transaction of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenantry.domain.audit import AuditDraft


# The members every problem+json body has; an error's `extra` members may not replace them.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "code", "detail", "request_id"})


class TenantryError(Exception):
    code: str = "error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        audit: AuditDraft | None = None,
        aftermath: Callable[[Any], None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.audit = audit
        self.aftermath = aftermath
        self.extra = extra or {}
        if clash := PROBLEM_MEMBERS.intersection(self.extra):
            raise ValueError(f"an error's extra members may not be named {sorted(clash)}")


class Invalid(TenantryError):
    code = "invalid"


class Unauthenticated(TenantryError):
    code = "unauthenticated"


class Forbidden(TenantryError):
    code = "forbidden"


class NotFound(TenantryError):
    code = "not_found"


class Conflict(TenantryError):
    code = "conflict"


class Gone(TenantryError):
    code = "gone"


class RateLimited(TenantryError):
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class Unavailable(TenantryError):
    """The store or another dependency failed; nothing was applied."""

    code = "unavailable"
