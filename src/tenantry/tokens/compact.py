"""The compact JWS form (RFC 7515 §7.1), read strictly before any signature is checked.

JSON parsers disagree on what is not quite JSON. Python's `json` keeps the last of two members
with the same name, where others keep the first or refuse; it reads `NaN`, `Infinity` and
numbers too large for a double, which RFC 8259 §6 does not allow. RFC 7515 §4 and RFC 7519 §4
let a verifier either refuse duplicate names or keep the last: tenantry refuses them, and any
non-finite number, in the header and in the claims, so that every verifier that accepts one
of its tokens reads the same claims from it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class MalformedToken(ValueError):
    """Not a compact JWS whose header and claims every JSON parser reads alike."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    header: dict[str, Any]
    claims: dict[str, Any]


def read_compact(token: str) -> CompactJws:
    """The header and claims of `token`, unverified; `MalformedToken` unless both are strict."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("a compact JWS has three parts")
    header, claims, _signature = parts
    return CompactJws(
        header=_json_object(header, "header"), claims=_json_object(claims, "claims set")
    )


def base64url(raw: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_object(segment: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(
            _unbase64url(segment).decode("utf-8"),  # RFC 7515 §5.2: UTF-8, and nothing else
            object_pairs_hook=_unique_members,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError) as exc:
        raise MalformedToken(f"the {name} is not strict JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"the {name} is not a JSON object")
    return value


def _unbase64url(segment: str) -> bytes:
    # One spelling only, so that the bytes read here are the bytes the signature library reads.
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedToken("a segment is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise MalformedToken("a segment is not base64url") from exc
    if base64url(raw) != segment:
        raise MalformedToken("a segment is not in canonical base64url")
    return raw


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise MalformedToken("a JSON object names a member twice")
    return members


def _no_constant(name: str) -> float:
    raise MalformedToken(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedToken(f"{text[:20]} does not fit a double")
    return value
