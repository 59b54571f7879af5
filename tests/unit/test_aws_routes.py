"""The Lambda authorizer's route map (`tenantry.aws.routes`): how `TENANTRY_AWS_ROUTES` is read,
refused when it cannot be, and matched against a request's method and path."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.aws.routes import RouteMap
from tenantry.domain.errors import Invalid

ROUTES: dict[str, Any] = {
    "POST /sites/{id}/publish": "site:publish",
    "GET /sites/{id}": "site:read",
    "GET /sites/new": "site:create",
    "GET /teams/{team}/sites": {"permission": "site:read", "team_from": "team"},
    "DELETE /orgs/{org}/sites/{id}": {
        "permissions": ["site:delete", "site:read"],
        "org_from": "org",
    },
    "ANY /files/{path+}": "file:read",
    "GET /files/{path+}": "file:list",
}


def found(method: str, path: str) -> tuple[str, tuple[str, ...], dict[str, str]] | None:
    matched = RouteMap.parse(ROUTES).find(method, path, key=None, given=None)
    if matched is None:
        return None
    return matched.route.key, matched.route.rule.permissions, matched.parameters


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "POST",
            "/sites/s1/publish",
            ("POST /sites/{id}/publish", ("site:publish",), {"id": "s1"}),
        ),
        (
            "post",
            "/sites/s1/publish/",
            ("POST /sites/{id}/publish", ("site:publish",), {"id": "s1"}),
        ),
        ("GET", "/sites/new", ("GET /sites/new", ("site:create",), {})),  # the literal first
        ("GET", "/sites/s%2F2", ("GET /sites/{id}", ("site:read",), {"id": "s/2"})),
        (
            "DELETE",
            "/orgs/org_1/sites/s1",
            (
                "DELETE /orgs/{org}/sites/{id}",
                ("site:delete", "site:read"),
                {"org": "org_1", "id": "s1"},
            ),
        ),
        ("GET", "/files/a/b", ("GET /files/{path+}", ("file:list",), {"path": "a/b"})),  # over ANY
        ("PUT", "/files/a/b", ("ANY /files/{path+}", ("file:read",), {"path": "a/b"})),
        ("GET", "/files", None),
        ("GET", "/sites/s1/publish", None),
        ("GET", "/sites", None),
        ("GET", "/", None),
    ],
)
def test_a_request_finds_its_route_and_its_parameters(
    method: str, path: str, expected: tuple[str, tuple[str, ...], dict[str, str]] | None
) -> None:
    assert found(method, path) == expected


def test_api_gateways_own_route_key_and_parameters_are_taken_as_they_are() -> None:
    routes = RouteMap.parse(ROUTES)

    by_key = routes.find("GET", "/ignored", key="GET /teams/{team}/sites", given={"team": "t1"})
    unknown_key = routes.find("GET", "/sites/s1", key="$default", given={})

    assert by_key is not None
    assert (by_key.route.rule.team_from, by_key.parameters) == ("team", {"team": "t1"})
    assert unknown_key is not None
    assert unknown_key.route.key == "GET /sites/{id}"  # matched by its path instead


@pytest.mark.parametrize(
    ("entry", "names"),
    [
        ({"PUBLISH /sites": "site:publish"}, "METHOD /path"),
        ({"GET sites": "site:read"}, "METHOD /path"),
        ({"GET /sites": "site:*"}, "site:*"),
        ({"GET /sites": "not a permission"}, "GET /sites"),
        ({"GET /sites": []}, "GET /sites"),
        ({"GET /sites": {"permission": "site:read", "team_from": "team"}}, "`team`"),
        ({"GET /a/{p+}/b": "site:read"}, "{name+}"),
        ({"GET /sites": {"permission": "site:read", "surprise": 1}}, "GET /sites"),
    ],
)
def test_a_map_that_cannot_be_read_is_refused_naming_the_entry(
    entry: dict[str, Any], names: str
) -> None:
    with pytest.raises(Invalid) as refused:
        RouteMap.parse(entry)

    assert refused.value.code == "invalid_aws_routes"
    assert names in refused.value.detail
