"""The probe's oracles: what every answer must be, whatever the route (the header policy, no
secret field), and how a call is compared with its twin (the answer's shape, the audit
events' signature)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tenantry.testing.wire import Response, json_of

HOSTILE_ORIGIN = "https://attacker.example"  # every call comes from another site's page
# The header policy every answer carries (docs/security.md#headers), as `name: value` or
# `name` where any value will do.
REQUIRED_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": None,
    "cache-control": None,
}
# Names of what tenantry stores and never answers with.
SECRET_NAMES = frozenset(
    {
        "password",
        "password_hash",
        "token_hash",
        "refresh_token_hash",
        "private_key",
        "private_jwk",
        "encrypted_private_key",
        "secret",
        "secret_key",
        "invitation_token",
        "reset_token",
        "verification_token",
    }
)
# Read back with the other tenant's state; these move whenever its owner reads it.
VOLATILE = frozenset({"last_used_at", "request_id"})


@dataclass(frozen=True)
class Sent:
    values: dict[str, str]
    request_id: str
    response: Response


@dataclass(frozen=True)
class Finding:
    route: str
    principal: str
    variant: str
    problem: str

    def __str__(self) -> str:
        return f"{self.route} as {self.principal} ({self.variant}): {self.problem}"


def shape(sent: Sent, changed: tuple[str, ...]) -> tuple[int, str, str]:
    """What must not differ between a call and its twin: the status, the media type, and the
    body without its request id and with the values the two calls differ in named, not given."""
    response = sent.response
    body, text = json_of(response), response.text
    if body is not None:
        text = json.dumps(without(body, VOLATILE), sort_keys=True)
    for name in changed:
        text = text.replace(sent.values[name], "{" + name + "}")
    return response.status_code, response.headers.get("content-type", ""), text


def secret_fields(response: Response) -> Iterator[str]:
    """A field of a JSON answer whose name says it holds a secret tenantry keeps to itself
    (a token pair's own `access_token` and `refresh_token` are the caller's to have)."""
    for name in sorted(_keys(json_of(response)) & SECRET_NAMES):
        yield f"the answer has a {name!r} field"


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def unsafe_headers(response: Response) -> Iterator[str]:
    """A header of the policy missing or weakened; any CORS grant to the hostile origin."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    for name, value in REQUIRED_HEADERS.items():
        if name not in headers or (value is not None and headers[name] != value):
            yield f"the answer's {name} is {headers.get(name)!r}"
    granted = sorted(name for name in headers if name.startswith("access-control-allow-"))
    if granted:
        yield f"another site's page may read the answer ({', '.join(granted)})"


def signature(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return sorted(
        tuple(str(e.get(key)) for key in ("org_id", "action", "outcome", "reason", "actor_id"))
        for e in events
    )


def code_of(response: Response) -> str:
    body = json_of(response)
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value
