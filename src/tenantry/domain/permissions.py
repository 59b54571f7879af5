"""Permission grammar and matching.

A permission is `resource:action` with one or more colon-separated segments after the
resource (`team:member:add`). A grant may end in `*`: `team:*` covers every action under
`team` at any depth, and `*:*` covers everything. There are no deny rules.
"""

import re
from collections.abc import Iterable

from tenantry.domain.errors import Invalid

_SEGMENT = r"[a-z][a-z0-9_-]{0,62}"
_PERMISSION = re.compile(rf"{_SEGMENT}(?::{_SEGMENT})+")
_GRANT = re.compile(rf"(?:\*:\*|{_SEGMENT}(?::{_SEGMENT})*:\*|{_SEGMENT}(?::{_SEGMENT})+)")


def parse_permission(text: str) -> str:
    if not _PERMISSION.fullmatch(text):
        raise Invalid(
            f"'{text}' is not a permission of the form resource:action", code="invalid_permission"
        )
    return text


def parse_grant(text: str) -> str:
    if not _GRANT.fullmatch(text):
        raise Invalid(f"'{text}' is not a permission or wildcard grant", code="invalid_permission")
    return text


def grant_covers(grant: str, permission: str) -> bool:
    if grant == permission or grant == "*:*":
        return True
    if grant.endswith(":*"):
        return permission.startswith(grant[:-1])
    return False


def matching_grant(grants: Iterable[str], permission: str) -> str | None:
    """The first grant that covers the permission, exact grants preferred."""
    grant_list = list(grants)
    if permission in grant_list:
        return permission
    return next((grant for grant in grant_list if grant_covers(grant, permission)), None)
