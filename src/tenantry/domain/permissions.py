"""The permission grammar: what a permission and a pattern are, and what matches what.

A permission is 2 to 4 segments of `[a-z0-9_-]{1,64}` joined by `:` (`site:publish`,
`team:member:add`). A pattern is a permission in which whole segments may be `*`:

- a `*` in the last place matches one or more remaining segments (`site:*` matches
  `site:read` and `site:page:edit`);
- a `*` anywhere else matches exactly one segment (`*:read` matches `site:read`, not
  `team:member:read`);
- so `*:*` matches every permission.

A `*` is a whole segment or nothing: `site:*` never matches `sites:read`, and `site*:read` is
not a pattern. There are no deny rules: a permission is granted or absent.

The semantics are also published as conformance vectors (`permission_vectors.json`, beside
this module), which the unit suite runs and which other implementations (the SDK, the HTTP
authorizer) are held to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tenantry.domain.errors import Invalid

MIN_SEGMENTS = 2
MAX_SEGMENTS = 4
MAX_LENGTH = MAX_SEGMENTS * 64 + MAX_SEGMENTS - 1
WILDCARD = "*"

_SEGMENT = re.compile(r"[a-z0-9_-]{1,64}")
_FRESH = "\x00"  # a segment no pattern can spell: it stands for "any segment" in `covers`


def is_permission(text: str) -> bool:
    segments = _split(text)
    return segments is not None and all(_SEGMENT.fullmatch(s) for s in segments)


def is_pattern(text: str) -> bool:
    segments = _split(text)
    return segments is not None and all(s == WILDCARD or _SEGMENT.fullmatch(s) for s in segments)


def parse_permission(text: str) -> str:
    """`text` if it is a permission (no wildcards), else `Invalid` naming it."""
    if not is_permission(text):
        raise Invalid(
            f"{text[:80]!r} is not a permission: 2 to 4 segments of a-z, 0-9, '_' or '-' "
            "joined by ':'",
            code="invalid_permission",
            extra={"permission": text[:MAX_LENGTH]},
        )
    return text


def parse_pattern(text: str) -> str:
    """`text` if it is a permission or a wildcard pattern, else `Invalid` naming it."""
    if not is_pattern(text):
        raise Invalid(
            f"{text[:80]!r} is not a permission or pattern: 2 to 4 segments of a-z, 0-9, '_' "
            "or '-' (or a whole '*') joined by ':'",
            code="invalid_permission",
            extra={"permission": text[:MAX_LENGTH]},
        )
    return text


def matches(pattern: str, permission: str) -> bool:
    """Whether `pattern` grants `permission` (both assumed well formed)."""
    return segments_match(pattern.split(":"), permission.split(":"))


def covers(pattern: str, other: str) -> bool:
    """Whether every permission `other` matches is also matched by `pattern`: holding
    `pattern` is enough to grant `other` (`site:*` covers `site:publish` and `site:page:*`,
    not `*:*`).

    Each wildcard of `other` is replaced by a segment no pattern can name; a trailing one by
    every depth it can reach. `pattern` matches all of those exactly when it matches
    everything `other` does, since only a `*` of `pattern` can match such a segment.
    """
    return all(segments_match(pattern.split(":"), shape) for shape in _shapes(other.split(":")))


def specificity(pattern: str) -> tuple[int, int, int, str]:
    """A sort key, most specific first: fewer wildcards, then no trailing wildcard (a trailing
    one reaches any depth), then more segments, then the pattern's text (a stable order)."""
    segments = pattern.split(":")
    wildcards = segments.count(WILDCARD)
    trailing = 1 if segments[-1] == WILDCARD else 0
    return (wildcards, trailing, -len(segments), pattern)


def best_match(patterns: Iterable[str], permission: str) -> str | None:
    """The most specific of `patterns` that matches `permission`, or None."""
    found = [p for p in patterns if matches(p, permission)]
    return min(found, key=specificity) if found else None


def _split(text: str) -> list[str] | None:
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    segments = text.split(":")
    return segments if MIN_SEGMENTS <= len(segments) <= MAX_SEGMENTS else None


def segments_match(pattern: Sequence[str], segments: Sequence[str]) -> bool:
    """`matches` on a pattern and a permission already split at `:` (the authorizer splits
    its patterns once, when it compiles a snapshot)."""
    last = len(pattern) - 1
    for index, part in enumerate(pattern):
        if index == last and part == WILDCARD:
            return len(segments) > index  # one or more remaining segments
        if index >= len(segments) or (part != WILDCARD and part != segments[index]):
            return False
    return len(segments) == len(pattern)


def _shapes(pattern: Sequence[str]) -> list[list[str]]:
    fixed = [_FRESH if part == WILDCARD else part for part in pattern]
    if pattern[-1] != WILDCARD:
        return [fixed]
    head = fixed[:-1]
    return [head + [_FRESH] * tail for tail in range(1, MAX_SEGMENTS - len(head) + 1)]
