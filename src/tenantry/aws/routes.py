"""Which permission each route of the product's API needs, for the Lambda authorizer.

The map comes from configuration (`TENANTRY_AWS_ROUTES`), as API Gateway names its routes:

    {"POST /sites/{id}/publish": "site:publish",
     "GET /teams/{team}/sites": {"permission": "site:read", "team_from": "team"},
     "DELETE /orgs/{org}/sites/{id}": {"permissions": ["site:delete"], "org_from": "org"}}

A rule names one permission or several (all must be allowed), and may say which path
parameter names the team to check within (`team_from`) or the organisation to check in
(`org_from`; by default the one the token is for). `ANY` matches every method; `{name+}`
matches the rest of the path. A route the map does not name is denied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tenantry.domain.errors import Invalid
from tenantry.domain.permissions import parse_permission

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
MAX_PERMISSIONS_PER_ROUTE = 20


class RouteRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    permissions: tuple[str, ...] = Field(min_length=1, max_length=MAX_PERMISSIONS_PER_ROUTE)
    team_from: str | None = Field(default=None, min_length=1, max_length=100)
    org_from: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"permissions": [value]}
        if isinstance(value, dict) and "permission" in value:
            rest = {k: v for k, v in value.items() if k != "permission"}
            return {**rest, "permissions": [value["permission"], *rest.get("permissions", [])]}
        return value


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str  # as configured: "/sites/{id}/publish"
    segments: tuple[str, ...]
    rule: RouteRule

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters, if this route is `method path`."""
        if self.method not in ("ANY", method):
            return None
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        found: dict[str, str] = {}
        for n, segment in enumerate(self.segments):
            parameter = _PARAMETER.fullmatch(segment)
            if parameter is not None and parameter.group(2):  # {name+}: the rest, one or more
                if n >= len(parts):
                    return None
                found[parameter.group(1)] = "/".join(parts[n:])
                return found
            if n >= len(parts):
                return None
            if parameter is not None:
                found[parameter.group(1)] = parts[n]
            elif segment != parts[n]:
                return None
        return found if len(parts) == len(self.segments) else None

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Literal segments first, then more segments, then a method over ANY."""
        literal = sum(1 for s in self.segments if _PARAMETER.fullmatch(s) is None)
        return (-literal, -len(self.segments), self.method == "ANY")


@dataclass(frozen=True, slots=True)
class Matched:
    route: Route
    parameters: dict[str, str]


class RouteMap:
    def __init__(self, routes: list[Route]) -> None:
        self._by_key = {route.key: route for route in routes}
        self._ordered = sorted(routes, key=lambda route: route.specificity)

    @classmethod
    def parse(cls, configured: dict[str, Any]) -> RouteMap:
        """The map of `TENANTRY_AWS_ROUTES`; 422 `invalid_aws_routes` naming the bad entry."""
        return cls([_route(key, value) for key, value in configured.items()])

    def __len__(self) -> int:
        return len(self._by_key)

    def find(
        self, method: str, path: str, *, key: str | None = None, given: dict[str, str] | None
    ) -> Matched | None:
        """The route of a request: by API Gateway's own route key when the event has one
        (with its path parameters), else by matching the path."""
        route = self._by_key.get(key) if key is not None else None
        if route is not None and given is not None:
            return Matched(route, dict(given))
        for candidate in self._ordered:
            parameters = candidate.match(method.upper(), path)
            if parameters is not None:
                return Matched(candidate, parameters)
        return None


def _route(key: str, value: Any) -> Route:
    method, _, template = key.strip().partition(" ")
    template = template.strip()
    if method.upper() not in _METHODS or not template.startswith("/"):
        raise _invalid(key, "a route is `METHOD /path`, the method one of " + ", ".join(_METHODS))
    segments = tuple(part for part in template.strip("/").split("/") if part)
    greedy = [n for n, s in enumerate(segments) if s.endswith("+}")]
    if greedy and greedy != [len(segments) - 1]:
        raise _invalid(key, "only the last segment may be `{name+}`")
    try:
        rule = RouteRule.model_validate(value)
        checked = tuple(map(parse_permission, rule.permissions))
        rule = rule.model_copy(update={"permissions": checked})
    except (ValidationError, Invalid) as error:
        raise _invalid(key, str(error).splitlines()[0]) from None
    names = {m.group(1) for s in segments if (m := _PARAMETER.fullmatch(s))}
    for source in (rule.team_from, rule.org_from):
        if source is not None and source not in names:
            raise _invalid(key, f"`{source}` is not a parameter of the path")
    return Route(method.upper(), template, segments, rule)


def _invalid(key: str, why: str) -> Invalid:
    return Invalid(f"TENANTRY_AWS_ROUTES: {key!r}: {why}", code="invalid_aws_routes")
