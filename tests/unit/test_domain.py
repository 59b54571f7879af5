"""Pure rules: slugs, permission grammar and matching, roles, the organisation life cycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantry.domain.errors import Conflict, Invalid, NotFound
from tenantry.domain.ids import hash_secret, new_id
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.domain.organisations import ensure_transition, ensure_usable
from tenantry.domain.permissions import best_match, matches, parse_pattern, parse_permission
from tenantry.domain.roles import BUILT_IN_PERMISSIONS, ORG_ROLE_PERMISSIONS, OrgRole
from tenantry.domain.slugs import RESERVED_SLUGS, validate_slug


@pytest.mark.parametrize("slug", ["abc", "acme", "acme-corp", "a1-b2-c3", "x" * 63, "123"])
def test_good_slugs_are_accepted(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        *["ab", "x" * 64, "Acme", "-acme", "acme-", "ac--me", "ac me", "acme\n", "acmé"],
        *["a_b", "../x", "a;b", ""],
    ],
)
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(Invalid) as refused:
        validate_slug(slug)
    assert refused.value.code == "invalid_slug"


@pytest.mark.parametrize("slug", sorted(RESERVED_SLUGS - {"me", "v1"}))
def test_reserved_slugs_are_refused(slug: str) -> None:
    with pytest.raises(Invalid) as refused:
        validate_slug(slug)
    assert refused.value.code in {"reserved_slug", "invalid_slug"}


@given(st.text(max_size=80))
def test_any_accepted_slug_is_url_and_sql_safe(text: str) -> None:
    try:
        slug = validate_slug(text)
    except Invalid:
        return
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert 3 <= len(slug) <= 63


@pytest.mark.parametrize(
    ("pattern", "permission", "allowed"),
    [
        ("site:publish", "site:publish", True),
        ("site:publish", "site:read", False),
        ("site:*", "site:publish", True),
        ("site:*", "site:page:edit", True),
        ("site:*", "sites:publish", False),
        ("*:read", "team:member:read", False),
        ("team:*:add", "team:member:add", True),
        ("*:*", "anything:at:all", True),
    ],
)
def test_patterns_match_by_whole_segments(pattern: str, permission: str, allowed: bool) -> None:
    assert matches(parse_pattern(pattern), parse_permission(permission)) is allowed


def test_the_most_specific_pattern_is_the_one_reported() -> None:
    assert best_match(["*:*", "site:*", "site:publish"], "site:publish") == "site:publish"
    assert best_match(["*:*", "site:*"], "site:publish") == "site:*"
    assert best_match(["team:read"], "site:publish") is None


@pytest.mark.parametrize(
    "text", ["site", "site:", ":publish", "Site:Publish", "site*:x", "*", "a:b:c:d:e", "a b:c"]
)
def test_malformed_permissions_are_refused_naming_the_string(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_pattern(text)
    assert refused.value.code == "invalid_permission"
    assert refused.value.extra["permission"] == text


def test_role_hierarchy_and_built_in_grants() -> None:
    assert OrgRole.OWNER.rank > OrgRole.ADMIN.rank > OrgRole.MEMBER.rank
    admin = set(ORG_ROLE_PERMISSIONS[OrgRole.ADMIN])
    assert set(BUILT_IN_PERMISSIONS) - admin == {"organisation:delete", "organisation:transfer"}
    assert best_match(ORG_ROLE_PERMISSIONS[OrgRole.OWNER], "site:publish") == "*:*"
    assert set(ORG_ROLE_PERMISSIONS[OrgRole.MEMBER]) == {
        "organisation:read",
        "member:read",
        "team:read",
    }


def _org(status: OrgStatus) -> Organisation:
    return Organisation("org_x", "acme", "Acme", status, datetime.now(UTC), "usr_x")


def test_organisation_life_cycle() -> None:
    ensure_transition(_org(OrgStatus.PROVISIONING), OrgStatus.ACTIVE)
    ensure_transition(_org(OrgStatus.FAILED), OrgStatus.PROVISIONING)
    with pytest.raises(Conflict):
        ensure_transition(_org(OrgStatus.ACTIVE), OrgStatus.PROVISIONING)
    with pytest.raises(Conflict):
        ensure_transition(_org(OrgStatus.DELETED), OrgStatus.ACTIVE)
    with pytest.raises(NotFound):
        ensure_usable(_org(OrgStatus.DELETED))
    with pytest.raises(Conflict):
        ensure_usable(_org(OrgStatus.FAILED))


def test_ids_are_prefixed_random_and_secrets_hash_stably() -> None:
    ids = {new_id("org") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("org_") and len(i) == 28 for i in ids)
    assert hash_secret("abc") == hash_secret("abc") != hash_secret("abd")
