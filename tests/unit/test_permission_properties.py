"""The permission matcher against a reference written apart from it, over generated inputs.

The reference reads the grammar as regular expressions over the whole text: a permission is
one expression, and each pattern becomes one (a non-final `*` is one segment, a final `*` one
or more); it shares no code with `tenantry.domain.permissions`. Segments are drawn from a small
alphabet (with `ab` beside `a` to catch prefix matching) so that matches are frequent.
"""

from __future__ import annotations

import itertools
import re
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.domain.permissions import best_match, covers, is_pattern, is_permission, matches

PROPERTY = settings(max_examples=150, deadline=None)

REFERENCE_SEGMENT = r"[a-z0-9_-]{1,64}"
REFERENCE_PERMISSION = re.compile(rf"{REFERENCE_SEGMENT}(?::{REFERENCE_SEGMENT}){{1,3}}")
REFERENCE_PATTERN = re.compile(rf"(?:{REFERENCE_SEGMENT}|\*)(?::(?:{REFERENCE_SEGMENT}|\*)){{1,3}}")
ONE_SEGMENT = r"[^:]+"
ONE_OR_MORE_SEGMENTS = r"[^:]+(?::[^:]+)*"

LITERALS = ("a", "b", "ab")
FRESH = "z"  # a segment no generated pattern spells: it stands for every other segment
UNIVERSE = tuple(
    ":".join(segments)
    for depth in (2, 3, 4)
    for segments in itertools.product((*LITERALS, FRESH), repeat=depth)
)

PATTERN_UNIVERSE = tuple(
    ":".join(segments)
    for depth in (2, 3, 4)
    for segments in itertools.product((*LITERALS, "*"), repeat=depth)
)


def reference_is_permission(text: str) -> bool:
    return REFERENCE_PERMISSION.fullmatch(text) is not None


def reference_is_pattern(text: str) -> bool:
    return REFERENCE_PATTERN.fullmatch(text) is not None


@cache
def reference_expression(pattern: str) -> re.Pattern[str]:
    *head, last = pattern.split(":")
    parts = [ONE_SEGMENT if s == "*" else re.escape(s) for s in head]
    parts.append(ONE_OR_MORE_SEGMENTS if last == "*" else re.escape(last))
    return re.compile(":".join(parts))


def reference_matches(pattern: str, permission: str) -> bool:
    expression = reference_expression(pattern)
    return reference_is_permission(permission) and expression.fullmatch(permission) is not None


def reference_covers(held: str, grant: str) -> bool:
    """Every permission of the universe that `grant` matches is matched by `held`."""
    return all(reference_matches(held, p) for p in UNIVERSE if reference_matches(grant, p))


@cache
def reference_patterns_matching(permission: str) -> tuple[str, ...]:
    return tuple(p for p in PATTERN_UNIVERSE if reference_matches(p, permission))


def reference_rank(pattern: str) -> tuple[int, bool, int, str]:
    """The order of the rules, most specific first: fewer wildcards, no trailing wildcard,
    more segments, smaller text."""
    return (pattern.count("*"), pattern.endswith(":*"), -pattern.count(":"), pattern)


def joined(segment: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(segment, min_size=2, max_size=4).map(":".join)


permissions = joined(st.sampled_from(LITERALS))
patterns = joined(st.sampled_from((*LITERALS, "*", "*")))
any_permissions = joined(st.from_regex(REFERENCE_SEGMENT, fullmatch=True))


@st.composite
def near_permissions(draw: st.DrawFn, pattern: str) -> str:
    """A permission shaped like `pattern`, often matched by it and often just missed: each
    segment kept or redrawn, a final `*` spelled as zero to two segments (within 2 to 4)."""
    *head, last = pattern.split(":")
    literal = st.sampled_from(LITERALS)
    segments = [draw(st.one_of(st.just(s), literal)) if s != "*" else draw(literal) for s in head]
    if last == "*":
        fewest, most = max(0, 2 - len(segments)), min(2, 4 - len(segments))
        segments += draw(st.lists(literal, min_size=fewest, max_size=most))
    else:
        segments.append(draw(st.one_of(st.just(last), literal)))
    return ":".join(segments)


pattern_and_permission = st.one_of(
    st.tuples(patterns, permissions),
    patterns.flatmap(lambda p: st.tuples(st.just(p), near_permissions(p))),
)


permission_and_grants = permissions.flatmap(
    lambda q: st.tuples(
        st.just(q),
        st.lists(st.sampled_from(reference_patterns_matching(q)), min_size=1, max_size=8),
        st.lists(patterns, max_size=3),
    ).map(lambda case: (case[0], case[1] + case[2]))
)
texts = st.text(alphabet="ab_-0:* A\u00e9\n", max_size=14)


@PROPERTY
@given(pattern_and_permission)
def test_matching_agrees_with_the_reference(case: tuple[str, str]) -> None:
    pattern, permission = case
    assert matches(pattern, permission) is reference_matches(pattern, permission)


@PROPERTY
@given(st.one_of(texts, patterns, permissions, any_permissions))
def test_the_grammar_agrees_with_the_reference(text: str) -> None:
    assert is_permission(text) is reference_is_permission(text)
    assert is_pattern(text) is reference_is_pattern(text)


@PROPERTY
@given(patterns, patterns)
def test_covers_means_every_permission_the_grant_matches_is_matched(held: str, grant: str) -> None:
    assert covers(held, grant) is reference_covers(held, grant)


@PROPERTY
@given(patterns)
def test_every_pattern_covers_itself(pattern: str) -> None:
    assert covers(pattern, pattern)


@PROPERTY
@given(st.lists(patterns, min_size=3, max_size=6, unique=True))
def test_covers_is_transitive(sample: list[str]) -> None:
    for a, b, c in itertools.product(sample, repeat=3):
        if covers(a, b) and covers(b, c):
            assert covers(a, c), (a, b, c)


@PROPERTY
@given(any_permissions)
def test_everything_matches_every_permission(permission: str) -> None:
    assert reference_is_permission(permission)
    assert matches("*:*", permission)
    assert covers("*:*", permission)


@PROPERTY
@given(permission_and_grants)
def test_the_best_match_is_the_most_specific_matching_pattern(
    case: tuple[str, list[str]],
) -> None:
    permission, granted = case
    matching = [p for p in granted if reference_matches(p, permission)]

    best = best_match(granted, permission)

    assert best == (min(matching, key=reference_rank) if matching else None)


def test_best_match_prefers_as_the_reference_does_in_every_pair() -> None:
    """Every pair of patterns over the alphabet matching a permission over it: agreeing on
    every pair means agreeing on the minimum of any set."""
    for permission in UNIVERSE:
        matching = reference_patterns_matching(permission)
        for first, second in itertools.combinations(matching, 2):
            expected = min(first, second, key=reference_rank)
            assert best_match([first, second], permission) == expected, (first, second)
            assert best_match([second, first], permission) == expected, (second, first)
