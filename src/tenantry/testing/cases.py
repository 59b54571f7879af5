"""The probe's matrix: every route of the API, what the attacker sends it, and which oracle
judges the answer. A route the live OpenAPI document serves and this list does not name
fails the run, so a new route cannot escape the walk.

Placeholders in paths and bodies: the ids of a tenant (`{org_id}`, `{user_id}` its member,
`{owner_id}`, `{owner_email}`, `{role_id}`, `{team_id}`, `{invitation_id}`, `{event_id}`,
`{session_id}` its owner's, `{slug}`), and the caller's own `{my_email}`, `{my_password}`,
`{my_refresh_token}`.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ORG_ID = "org_id"
# The placeholders that name another tenant's object (the organisation aside).
FOREIGN = (
    "user_id",
    "owner_id",
    "owner_email",
    "role_id",
    "team_id",
    "invitation_id",
    "event_id",
    "session_id",
    "slug",
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class Oracle(StrEnum):
    # Under /v1/organisations/{org_id}: the other tenant's organisation and ids, against a
    # random organisation; then each of its ids inside the caller's own organisation,
    # against a random id.
    ORGANISATION = "organisation"
    # A route of the caller's own naming another tenant's object, against a random one.
    FOREIGN_ID = "foreign-id"
    # A body naming the other organisation (authorize, login, refresh), against a random one.
    NAMES_ORGANISATION = "names-organisation"
    # The caller's own account and lists: nothing of the other tenant may show.
    OWN = "own"
    # No caller: the other tenant's addresses and ids, against random ones, answered alike.
    PUBLIC = "public"
    # Not called: `why` says which suite proves it.
    EXEMPT = "exempt"


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # as the OpenAPI document names it
    oracle: Oracle
    body: Mapping[str, Any] | None = None
    # The path parameters that are not placeholders of the same name.
    aliases: Mapping[str, str] = field(default_factory=dict)
    # An answer that is 2xx is a finding, unless the route answers a refusal so (a bulk
    # request reports each row; an authorization decision says allowed or not).
    refuses_with_2xx: bool = False
    why: str = ""

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def placeholders(self) -> list[str]:
        named = [self.aliases.get(p, p) for p in _PLACEHOLDER.findall(self.path)]
        named += [p for text in _strings(self.body) for p in _PLACEHOLDER.findall(text)]
        return list(dict.fromkeys(named))

    def foreign(self) -> list[str]:
        return [p for p in self.placeholders() if p in FOREIGN]

    def request(self, values: Mapping[str, str]) -> tuple[str, Any]:
        """The path and body with every placeholder filled from `values`."""
        params = {p: values[self.aliases.get(p, p)] for p in _PLACEHOLDER.findall(self.path)}
        return self.path.format(**params), _filled(self.body, values)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _filled(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, Mapping):
        return {k: _filled(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, values) for v in value]
    return value


ORG = "/v1/organisations/{org_id}"
MEMBER = ORG + "/members/{user_id}"
ROLE = ORG + "/roles/{role_id}"
TEAM = ORG + "/teams/{team_id}"
INVITATION = ORG + "/invitations/{invitation_id}"


def _org(method: str, path: str, body: Mapping[str, Any] | None = None, **kw: Any) -> Case:
    return Case(method, path, Oracle.ORGANISATION, body, **kw)


_ORGANISATION_CASES = [
    _org("GET", ORG),
    _org("PATCH", ORG, {"name": "Pwned", "settings": {"pwned": True}}),
    _org("DELETE", ORG),
    _org("POST", ORG + "/provisioning/retry"),
    _org("POST", ORG + "/transfer-ownership", {"user_id": "{user_id}"}),
    _org("GET", ORG + "/members"),
    _org("PATCH", MEMBER, {"org_role": "OWNER"}),
    _org("DELETE", MEMBER),
    _org("GET", MEMBER + "/permissions"),
    _org("PUT", MEMBER + "/roles/{role_id}"),
    _org("DELETE", MEMBER + "/roles/{role_id}"),
    _org("GET", ORG + "/roles"),
    _org("POST", ORG + "/roles", {"name": "Pwned", "permissions": ["*:*"]}),
    _org("GET", ROLE),
    _org("PATCH", ROLE, {"permissions": ["*:*"]}),
    _org("DELETE", ROLE),
    _org("GET", ORG + "/teams"),
    _org("POST", ORG + "/teams", {"name": "Pwned"}),
    _org("GET", TEAM),
    _org("PATCH", TEAM, {"name": "Pwned"}),
    _org("DELETE", TEAM),
    _org("GET", TEAM + "/members"),
    _org("POST", TEAM + "/members", {"user_id": "{owner_id}", "team_role": "LEAD"}),
    _org("PATCH", TEAM + "/members/{user_id}", {"team_role": "LEAD"}),
    _org("DELETE", TEAM + "/members/{user_id}"),
    _org("GET", ORG + "/audit-events"),
    _org("GET", ORG + "/audit-events/export"),
    _org("GET", ORG + "/audit-events/verify"),
    _org("GET", ORG + "/audit-events/{event_id}"),
    _org("GET", ORG + "/invitations"),
    _org(
        "POST",
        ORG + "/invitations",
        {"email": "pwned@example.com", "org_role": "OWNER", "role_ids": ["{role_id}"]},
    ),
    _org(
        "POST",
        ORG + "/invitations/bulk",
        {"invitations": [{"email": "pwned@example.com", "team_id": "{team_id}"}]},
        refuses_with_2xx=True,
    ),
    _org("GET", INVITATION),
    _org("POST", INVITATION + "/resend"),
    _org("DELETE", INVITATION),
]

_ACCOUNT_CASES = [
    Case(
        "POST",
        "/v1/auth/signup",
        Oracle.PUBLIC,
        {"email": "{owner_email}", "password": "{my_password}", "name": "Probe"},
        refuses_with_2xx=True,
    ),
    Case("POST", "/v1/auth/verify-email", Oracle.PUBLIC, {"token": "{invitation_id}"}),
    Case(
        "POST",
        "/v1/auth/verify-email/resend",
        Oracle.PUBLIC,
        {"email": "{owner_email}"},
        refuses_with_2xx=True,
    ),
    Case(
        "POST",
        "/v1/auth/password-reset",
        Oracle.PUBLIC,
        {"email": "{owner_email}"},
        refuses_with_2xx=True,
    ),
    Case(
        "POST",
        "/v1/auth/password-reset/confirm",
        Oracle.PUBLIC,
        {"token": "{session_id}", "password": "{my_password}"},
    ),
    Case(
        "POST",
        "/v1/auth/login",
        Oracle.NAMES_ORGANISATION,
        {"email": "{my_email}", "password": "{my_password}", "organisation_id": "{org_id}"},
    ),
    Case(
        "POST",
        "/v1/auth/refresh",
        Oracle.NAMES_ORGANISATION,
        {"refresh_token": "{my_refresh_token}", "organisation_id": "{org_id}"},
    ),
    Case(
        "POST",
        "/v1/authorize",
        Oracle.NAMES_ORGANISATION,
        {"organisation_id": "{org_id}", "permission": "organisation:read"},
        refuses_with_2xx=True,
    ),
    Case("GET", "/v1/me", Oracle.OWN),
    Case("GET", "/v1/me/sessions", Oracle.OWN),
    Case("GET", "/v1/me/teams", Oracle.OWN),
    Case("GET", "/v1/organisations", Oracle.OWN),
    # The other tenant's slug: refused as taken (slugs are one namespace), nothing else said.
    Case("POST", "/v1/organisations", Oracle.OWN, {"name": "Probe Copy", "slug": "{slug}"}),
    Case("DELETE", "/v1/me/sessions/{session_id}", Oracle.FOREIGN_ID),
    Case(
        "GET",
        "/v1/invitations/{invitation_token}",
        Oracle.FOREIGN_ID,
        aliases={"invitation_token": "invitation_id"},
    ),
    Case(
        "POST",
        "/v1/invitations/{invitation_token}/accept",
        Oracle.FOREIGN_ID,
        aliases={"invitation_token": "invitation_id"},
    ),
    Case("GET", "/.well-known/jwks.json", Oracle.PUBLIC),
    Case("GET", "/.well-known/openid-configuration", Oracle.PUBLIC),
    Case("GET", "/healthz", Oracle.PUBLIC),
    Case("GET", "/readyz", Oracle.PUBLIC),
    Case(
        "POST",
        "/v1/me/password",
        Oracle.EXEMPT,
        why="changes the caller's own password and names nothing of another tenant "
        "(tests/integration/test_accounts.py)",
    ),
    Case(
        "POST",
        "/v1/auth/logout",
        Oracle.EXEMPT,
        why="ends the session of the refresh token it is given, which only its holder has "
        "(tests/integration/test_sign_in.py)",
    ),
    Case(
        "DELETE",
        "/v1/me/sessions",
        Oracle.EXEMPT,
        why="ends the caller's own sessions and names nothing of another tenant "
        "(tests/integration/test_sign_in.py)",
    ),
]

CASES: list[Case] = _ORGANISATION_CASES + _ACCOUNT_CASES


def inventory(openapi: Mapping[str, Any]) -> list[str]:
    """`METHOD /path` of every operation in an OpenAPI document."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [
        f"{method.upper()} {path}"
        for path, operations in openapi.get("paths", {}).items()
        for method in operations
        if method in methods
    ]


def random_like(value: str) -> str:
    """A value of the same form as `value` (prefix, length, alphabet) that names nothing."""
    if "@" in value:
        return f"probe-nobody-{secrets.token_hex(6)}@example.com"
    prefix, _, tail = value.rpartition("_")
    alphabet = "".join(sorted(set(tail))) or string.ascii_lowercase
    while True:
        twin = "".join(secrets.choice(alphabet) for _ in tail)
        if twin != tail:
            return f"{prefix}_{twin}" if prefix else twin
