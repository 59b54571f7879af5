"""The page sizes every list accepts."""

from __future__ import annotations

from tenantry.domain.errors import Invalid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def check_page_size(limit: int) -> None:
    """Raise `Invalid` `invalid_limit` unless 1 <= `limit` <= `MAX_PAGE_SIZE`."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE_SIZE}", code="invalid_limit")
