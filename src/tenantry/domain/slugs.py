"""Organisation slug rules."""

import re

from tenantry.domain.errors import Invalid

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")

RESERVED_SLUGS = frozenset(
    {
        "admin",
        "administrator",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "console",
        "dashboard",
        "docs",
        "help",
        "internal",
        "login",
        "logout",
        "me",
        "new",
        "null",
        "oauth",
        "organisations",
        "organizations",
        "root",
        "settings",
        "signup",
        "static",
        "status",
        "support",
        "system",
        "tenantry",
        "v1",
        "well-known",
        "www",
    }
)


def validate_slug(slug: str) -> str:
    """Return the slug unchanged if it is acceptable, or raise `Invalid`.

    The slug ends up in URLs, logs and (for some users) schema or bucket names, so the
    grammar is closed: lower-case letters, digits and inner hyphens, 3 to 63 characters.
    """
    if not SLUG_PATTERN.fullmatch(slug):
        raise Invalid(
            "slug must be 3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            code="invalid_slug",
        )
    if "--" in slug:
        raise Invalid("slug must not contain '--'", code="invalid_slug")
    if slug in RESERVED_SLUGS:
        raise Invalid(f"slug '{slug}' is reserved", code="reserved_slug")
    return slug
