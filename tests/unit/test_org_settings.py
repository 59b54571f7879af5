"""The settings document (domain/org_settings.py): what it lets through always renders.

The HTTP tests (tests/integration/test_organisation_settings.py) pin each limit through the
API; these pin the promise the routes rely on to answer after a commit: any document
`apply_patch` accepts renders through `OrganisationOut` to UTF-8 JSON and reads back equal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.domain.errors import Invalid
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.domain.org_settings import MAX_DEPTH, apply_patch
from tenantry.organisations.schemas import OrganisationOut

# Leaves a hostile client can produce from JSON text, valid ones and not.
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=8),
)
KEYS = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=6)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=40,
)


def rendered(document: dict[str, Any]) -> Any:
    org = Organisation(
        id="org_x",
        slug="acme",
        name="Acme",
        status=OrgStatus.ACTIVE,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by="usr_x",
        settings=document,
    )
    body = JSONResponse(OrganisationOut.of(org).model_dump(mode="json")).body
    return json.loads(bytes(body).decode("utf-8"))["settings"]


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(KEYS, DOCUMENTS, max_size=4))
def test_whatever_apply_patch_accepts_renders_and_reads_back_equal(
    changes: dict[str, Any],
) -> None:
    result = outcome(changes)
    if isinstance(result, Invalid):
        assert result.code == "invalid_settings"
        # The refusal itself goes back as problem+json: its path and detail must render too.
        JSONResponse({"path": result.extra["path"], "detail": result.detail})
        return
    assert rendered(result) == result


def outcome(changes: dict[str, Any]) -> dict[str, Any] | Invalid:
    try:
        return apply_patch({}, changes)
    except Invalid as refused:
        return refused


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_depth_counts_the_settings_object_as_the_first_level() -> None:
    assert apply_patch({}, {"x": nested(MAX_DEPTH - 1)}) == {"x": nested(MAX_DEPTH - 1)}
    with pytest.raises(Invalid) as refused:
        apply_patch({}, {"x": nested(MAX_DEPTH)})
    assert refused.value.extra["path"] == "/x" + "/a" * (MAX_DEPTH - 1)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"\ud800": 1}, "/\\ud800"),
        ({"a": {"b/c~d": {"\x07": None}}}, "/a/b~1c~0d/\\u0007"),
        ({"a": [0, {"k": "\udfff"}]}, "/a/1/k"),
    ],
)
def test_the_refusal_names_the_path_in_printable_text(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(Invalid) as refused:
        apply_patch({}, changes)
    assert refused.value.extra["path"] == path
    assert path in refused.value.detail


def test_null_deletes_a_top_level_key_and_the_merge_is_shallow() -> None:
    current = {"look": {"theme": "dark", "font": "serif"}, "beta": True, "tz": "UTC"}

    merged = apply_patch(current, {"look": {"theme": "light"}, "beta": None, "gone": None})

    assert merged == {"look": {"theme": "light"}, "tz": "UTC"}
    assert current["look"] == {"theme": "dark", "font": "serif"}  # not mutated


def test_the_result_is_rebuilt_from_plain_values() -> None:
    class Text(str):
        pass

    merged = apply_patch({}, {"t": (Text("x"), 1)})

    assert merged == {"t": ["x", 1]}
    assert type(merged["t"]) is list
    assert type(merged["t"][0]) is str
