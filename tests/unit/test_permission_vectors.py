"""The published conformance vectors (`tenantry/domain/permission_vectors.json`), read from the
installed package as another implementation would, run against tenantry's own grammar."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import TypedDict, cast

import pytest

from tenantry.domain.access import AccessSnapshot, Grant
from tenantry.domain.decision import CompiledAccess, Reason
from tenantry.domain.errors import Invalid
from tenantry.domain.permissions import (
    MAX_LENGTH,
    best_match,
    covers,
    is_pattern,
    is_permission,
    matches,
    parse_pattern,
    parse_permission,
)
from tests.access_builders import MEMBER_BUILT_INS, match_vectors
from tests.access_builders import VECTORS as HTTP_VECTORS


class MatchCase(TypedDict):
    name: str
    granted: list[str]
    required: str
    allowed: bool
    matched: str | None


class CoversCase(TypedDict):
    name: str
    held: str
    grant: str
    covers: bool


class ValidCase(TypedDict):
    text: str
    permission: bool
    pattern: bool


class Vectors(TypedDict):
    version: int
    description: str
    match: list[MatchCase]
    covers: list[CoversCase]
    valid: list[ValidCase]


def load_vectors() -> Vectors:
    source = resources.files("tenantry.domain").joinpath("permission_vectors.json")
    return cast(Vectors, json.loads(source.read_text(encoding="utf-8")))


VECTORS = load_vectors()


def by_name(cases: list[MatchCase] | list[CoversCase]) -> list[str]:
    return [case["name"] for case in cases]


def test_the_vectors_are_version_1_with_enough_uniquely_named_cases() -> None:
    assert VECTORS["version"] == 1
    assert len(VECTORS["match"]) >= 150
    assert len(VECTORS["covers"]) >= 30
    assert len(VECTORS["valid"]) >= 40
    for names in (by_name(VECTORS["match"]), by_name(VECTORS["covers"])):
        assert len(set(names)) == len(names)
    texts = [case["text"] for case in VECTORS["valid"]]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("case", VECTORS["match"], ids=by_name(VECTORS["match"]))
def test_match_vector(case: MatchCase) -> None:
    granted, required = case["granted"], case["required"]
    assert is_permission(required), "a match vector names a well-formed permission"
    assert all(is_pattern(p) for p in granted), "a match vector grants well-formed patterns"
    assert case["allowed"] is (case["matched"] is not None)

    assert any(matches(p, required) for p in granted) is case["allowed"]
    assert best_match(granted, required) == case["matched"]


@pytest.mark.parametrize("case", VECTORS["match"], ids=by_name(VECTORS["match"]))
def test_match_vector_through_an_access_snapshot(case: MatchCase) -> None:
    grants = tuple(Grant(p, f"role:vector/{i}") for i, p in enumerate(case["granted"]))
    snapshot = AccessSnapshot("org_vectors", "usr_vectors", None, 1, grants)

    grant = snapshot.grant_for(case["required"])

    assert (grant.pattern if grant else None) == case["matched"]


@pytest.mark.parametrize("case", VECTORS["match"], ids=by_name(VECTORS["match"]))
def test_match_vector_through_the_compiled_decision(case: MatchCase) -> None:
    grants = tuple(Grant(p, f"role:vector/{i}") for i, p in enumerate(case["granted"]))
    compiled = CompiledAccess.of(AccessSnapshot("org_vectors", "usr_vectors", None, 1, grants))

    first, again = (compiled.decide(case["required"]) for _ in range(2))  # cold, then known

    for decision in (first, again):
        assert decision.allowed is case["allowed"]
        assert (decision.grant.pattern if decision.grant else None) == case["matched"]
        expected = Reason.GRANTED if case["allowed"] else Reason.NO_MATCHING_PERMISSION
        assert decision.reason is expected


@pytest.mark.parametrize("case", VECTORS["covers"], ids=by_name(VECTORS["covers"]))
def test_covers_vector(case: CoversCase) -> None:
    assert is_pattern(case["held"])
    assert is_pattern(case["grant"])

    assert covers(case["held"], case["grant"]) is case["covers"]


def text_id(case: ValidCase) -> str:
    text = case["text"]
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}...({len(text)} characters)"


@pytest.mark.parametrize("case", VECTORS["valid"], ids=text_id)
def test_valid_vector(case: ValidCase) -> None:
    text = case["text"]
    assert is_permission(text) is case["permission"]
    assert is_pattern(text) is case["pattern"]
    assert_parses_or_names_the_text(parse_permission, text, case["permission"])
    assert_parses_or_names_the_text(parse_pattern, text, case["pattern"])


def assert_parses_or_names_the_text(parse: Callable[[str], str], text: str, accepted: bool) -> None:
    if accepted:
        assert parse(text) == text
        return
    with pytest.raises(Invalid) as refused:
        parse(text)
    assert refused.value.code == "invalid_permission"
    assert refused.value.extra["permission"] == text[:MAX_LENGTH]


def test_the_vectors_http_suites_leave_out_are_only_those_a_member_holds_anyway() -> None:
    left_out = [case for case in match_vectors() if case not in HTTP_VECTORS]
    assert len(HTTP_VECTORS) >= 150
    assert {case["required"] for case in left_out} <= MEMBER_BUILT_INS
