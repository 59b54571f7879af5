"""The audit archive as the service needs it: objects written once, read back, listed.

An archive never overwrites. `put_if_absent` is a conditional create (a hard link on a
folder, `If-None-Match: *` on S3), so two runs, or a run and its retry, that write the same
key either write the same bytes or one of them is refused.
"""

from __future__ import annotations

import re
from typing import Protocol

from tenantry.domain.errors import Conflict, Invalid, Unavailable

# Keys are relative, `/`-separated paths of plain characters; no segment starts with a dot,
# so none is `.` or `..`, and none is a hidden file: nothing a folder or a bucket would read
# differently.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


class Archive(Protocol):
    """Keys are relative to the archive's root (a folder, or a bucket and prefix)."""

    url: str  # where it is, for people and the audit trail; never holds a credential

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create `key` holding `data`; True if written, False if it already held exactly
        `data`. `ObjectDiffers` if it holds other bytes; `Unavailable` (`archive_unavailable`)
        when the archive cannot be reached, in which case the object may or may not exist."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is none."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""
        ...


class ObjectDiffers(Conflict):
    """An object exists under the key with other bytes than the ones being written."""

    code = "archive_object_differs"


def object_differs(key: str) -> ObjectDiffers:
    return ObjectDiffers(
        f"{key} already exists in the archive with other bytes; nothing was overwritten",
        code="archive_object_differs",
    )


def archive_unavailable(what: str, reason: str) -> Unavailable:
    return Unavailable(f"the archive could not {what}: {reason}", code="archive_unavailable")


def checked_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise Invalid(f"{key!r} is not an archive key", code="invalid_archive_key")
    return key
