"""Hostile-but-small bodies on every write route: refused or accepted, never a 5xx, and never a
change committed that breaks a later read.

The bug this pins: `PATCH /v1/organisations/{id}` with settings nested 256 levels deep (under
2 KB) was committed, then its response could not be serialised (500), and from then on every
read of the organisation answered 500 too. A lone surrogate or NaN did the same. So after each
request, the caller's organisation, organisation list and account must still read 200.

The walk follows the live OpenAPI document, so a new write route is walked as soon as it is
served; a new body field needs a plausible value in `PLAUSIBLE` (the test says so).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.domain.audit import Outcome
from tests.access_builders import made_role, made_team
from tests.harness import (
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    unique_email,
    unique_slug,
)
from tests.org_builders import stored_organisation

WRITE_METHODS = ("post", "patch", "put", "delete")


def nested_objects(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_lists(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


# Each is small (the largest is under 2 KB): nothing here is refused for its size.
HOSTILE: dict[str, Any] = {
    "objects nested 256 deep": nested_objects(256),
    "lists nested 256 deep": nested_lists(256),
    "a lone surrogate": "\ud800",
    "NUL in a string": "a\x00b",
    "a huge integer": 10**400,
    "NaN": float("nan"),
    "a list": [1, "two", None],
}
# More for the fields that take a JSON object (settings): each is sent as `{"key": value}`.
HOSTILE_INSIDE_AN_OBJECT: dict[str, Any] = {
    **HOSTILE,
    "a lone low surrogate": "x\udfffy",
    "Infinity": float("inf"),
    "NUL in a key": {"k\x00": "v"},
    "a lone surrogate in a key": {"\ud800": 1},
    "NUL in a nested value": {"k": ["v\x00"]},
    "a huge negative integer": -(10**30),
    "-Infinity": float("-inf"),
    "a boolean": True,
    "a float": 1.5,
    "null": None,
}
WHOLE_BODIES: dict[str, Any] = {
    label: HOSTILE_INSIDE_AN_OBJECT[label]
    for label in (
        "objects nested 256 deep",
        "lists nested 256 deep",
        "NaN",
        "a lone surrogate",
        "NUL in a key",
        "a lone surrogate in a key",
    )
}

# A valid value for each body field, so that one hostile field at a time gets past the others.
# Secrets are never the caller's own (a used refresh token would end the caller's session).
PLAUSIBLE: dict[str, Callable[[Account, str], Any]] = {
    "email": lambda caller, org_id: unique_email("hostile"),
    "password": lambda caller, org_id: "a perfectly long password",
    "current_password": lambda caller, org_id: caller.password,
    "new_password": lambda caller, org_id: "another perfectly long password",
    "name": lambda caller, org_id: "Hostile Test",
    "slug": lambda caller, org_id: unique_slug("hostile"),
    "settings": lambda caller, org_id: {"theme": "dark"},
    "token": lambda caller, org_id: "not-a-real-token",
    "refresh_token": lambda caller, org_id: "not-a-real-refresh-token",
    "organisation_id": lambda caller, org_id: org_id,
    "permissions": lambda caller, org_id: ["site:read", "site:*"],
    "description": lambda caller, org_id: "Made by the hostile walk",
    "scope": lambda caller, org_id: "ORGANISATION",
    "user_id": lambda caller, org_id: caller.user_id,
    "team_role": lambda caller, org_id: "MEMBER",
    "org_role": lambda caller, org_id: "ADMIN",
    # `permissions` (above) asks the question, so `permission` is null: one way to ask.
    "permission": lambda caller, org_id: None,
    "team_id": lambda caller, org_id: None,
    "min_epoch": lambda caller, org_id: 0,
    "explain": lambda caller, org_id: True,
    "role_ids": lambda caller, org_id: [],
    "invitations": lambda caller, org_id: [{"email": unique_email("hostile")}],
    "all_or_nothing": lambda caller, org_id: False,
    "dry_run": lambda caller, org_id: False,
}


OBJECT_FIELDS = {"settings"}


@dataclass(frozen=True)
class WriteRoute:
    method: str
    path: str
    fields: tuple[str, ...]  # the body's properties, none when the route takes no body

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def write_routes(api: Api) -> list[WriteRoute]:
    document = api.client.get("/openapi.json").json()
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in WRITE_METHODS and path.startswith("/v1/"):
                routes.append(WriteRoute(method, path, _body_fields(document, operation)))
    return routes


def _body_fields(document: dict[str, Any], operation: dict[str, Any]) -> tuple[str, ...]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            name = option["$ref"].rsplit("/", 1)[-1]
            return tuple(document["components"]["schemas"][name].get("properties", {}))
    return ()


def bodies(route: WriteRoute, caller: Account, org_id: str) -> Iterator[tuple[str, str]]:
    """(what is hostile, the raw JSON text): the hostile value as the whole body, then in each
    field of an otherwise plausible body, then as an unknown field."""
    for label, value in WHOLE_BODIES.items():
        yield f"body is {label}", _json_text(value)
    if not route.fields:
        return
    missing = [field for field in route.fields if field not in PLAUSIBLE]
    assert not missing, f"{route.label}: give {missing} a plausible value in PLAUSIBLE"
    for field in route.fields:
        for label, value in HOSTILE.items():
            body = {name: PLAUSIBLE[name](caller, org_id) for name in route.fields}
            body[field] = value
            yield f"{field} is {label}", _json_text(body)
    for label, value in HOSTILE_INSIDE_AN_OBJECT.items():
        for field in set(route.fields) & OBJECT_FIELDS:
            body = {name: PLAUSIBLE[name](caller, org_id) for name in route.fields}
            body[field] = {"key": value}
            yield f"{field}.key is {label}", _json_text(body)
    body = {name: PLAUSIBLE[name](caller, org_id) for name in route.fields}
    yield "an unknown field with NUL", _json_text({**body, "extra\x00": "\ud800"})


def _json_text(value: Any) -> str:
    # As a hostile client writes it: \ud800 and \u0000 escapes, NaN and Infinity literals.
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


@dataclass
class Caller:
    """The owner of an organisation, with an org-scoped token, a custom role and a team (so
    that routes on a role or a team reach their use case), and a second member."""

    account: Account
    org_id: str
    role_id: str
    team_id: str
    member_id: str

    @classmethod
    def new(cls, api: Api) -> Caller:
        account, org = api.owner_with_org()
        role_id = made_role(api, account, "Walked", ["site:read"])
        team_id = made_team(api, account, "Walked")
        member = api.member_of(org["id"])
        return cls(account, org["id"], role_id, team_id, member.user_id)

    def url(self, path: str) -> str:
        for placeholder, value in {
            "{org_id}": self.org_id,
            "{session_id}": "ses_unknown",
            "{role_id}": self.role_id,
            "{team_id}": self.team_id,
            "{user_id}": self.member_id,
        }.items():
            path = path.replace(placeholder, value)
        return path

    def send(self, api: Api, route: WriteRoute, text: str) -> Any:
        return api.client.request(
            route.method,
            self.url(route.path),
            content=text.encode("utf-8"),
            headers={**self.account.auth, "Content-Type": "application/json"},
        )

    def signed_in_again(self, api: Api) -> Caller:
        """After an accepted request (which may have ended the caller's session, or deleted
        the organisation, as asked): a new session, or a new owner if the org is gone."""
        login = api.login(self.account.email, self.account.password, org_id=self.org_id)
        if login.status_code == 200:
            self.account.access_token = login.json()["access_token"]
            self.account.refresh_token = login.json()["refresh_token"]
            return self
        user_level = api.login(self.account.email, self.account.password)
        assert user_level.status_code == 200, user_level.text
        self.account.access_token = user_level.json()["access_token"]
        assert_reads(api, self, with_org=False)
        mine = api.client.get("/v1/organisations", headers=self.account.auth).json()
        assert self.org_id not in [org["id"] for org in mine["items"]], login.text
        return Caller.new(api)


def assert_reads(api: Api, caller: Caller, *, with_org: bool = True) -> None:
    paths = ["/v1/me", "/v1/organisations"]
    if with_org:
        paths.append(f"/v1/organisations/{caller.org_id}")
    answers = {path: api.client.get(path, headers=caller.account.auth) for path in paths}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(paths, 200), {
        path: r.text for path, r in answers.items()
    }


def test_the_walk_covers_every_write_route(api: Api) -> None:
    labels = {route.label for route in write_routes(api)}
    assert {
        "POST /v1/auth/signup",
        "POST /v1/me/password",
        "POST /v1/organisations",
        "PATCH /v1/organisations/{org_id}",
        "DELETE /v1/organisations/{org_id}",
        "DELETE /v1/me/sessions",
    } <= labels
    assert len(labels) >= 14


# The walk is split in shards (the routes by position), which the test workers share out:
# one walk of every route takes over a minute. Together they cover every route.
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_hostile_body_on_any_write_route_answers_5xx_or_breaks_a_read(
    api: Api, store_target: StoreTarget, clock: TestClock, shard: int
) -> None:
    routes = write_routes(api)[shard::SHARDS]
    assert routes, "a shard with no route: lower SHARDS"
    for route in routes:
        walk(api, store_target, route, Caller.new(api))
        clock.advance(hours=1)  # a fresh throttle window for the next route's logins


def walk(api: Api, target: StoreTarget, route: WriteRoute, caller: Caller) -> None:
    for label, text in bodies(route, caller.account, caller.org_id):
        before = stored_organisation(api.tenantry, caller.org_id)
        changes = org_changes(target, caller.org_id)
        response = caller.send(api, route, text)
        assert response.status_code < 500, f"{route.label}, {label}: {response.text}"
        if response.is_success:
            caller = caller.signed_in_again(api)
        else:  # a refusal changed nothing and recorded no change
            assert stored_organisation(api.tenantry, caller.org_id) == before, label
            assert org_changes(target, caller.org_id) == changes, label
        assert_reads(api, caller)


def org_changes(target: StoreTarget, org_id: str) -> list[str]:
    """The organisation's successful change events, by id."""
    events = audit_events(target, org_id=org_id, outcome=Outcome.SUCCESS)
    return sorted(event.event_id for event in events)
