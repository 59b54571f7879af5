"""What makes a JWT one of tenantry's access tokens, checked alike by tenantry's signer (against
its key ring) and by a product that verifies the token itself through the JWKS
(`tenantry.fastapi`): one set of checks, so the two can never disagree on a token.

A token is read strictly first (`compact.read_compact`, before PyJWT, whose parser keeps the
last of duplicate names and reads NaN); its header must say `typ` at+jwt and name a `kid`. It
is verified with the algorithm of the key that kid names, never the one its header claims,
and its times against the verifier's own clock, with `CLOCK_SKEW` either way.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from tenantry.domain.errors import Unauthenticated
from tenantry.domain.roles import OrgRole
from tenantry.sessions.ports import AccessClaims
from tenantry.tokens.compact import MalformedToken, read_compact

JWT_TYPE = "at+jwt"
USE_ACCESS = "access"  # the `token_use` of an access token
# Tolerated difference between the clocks of the hosts that issue and verify tokens.
CLOCK_SKEW = timedelta(seconds=30)

_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid", "token_use"]


def kid_of(token: str) -> str:
    """The `kid` of a strictly well-formed access token's header; `invalid_token` otherwise."""
    try:
        header = read_compact(token).header
    except MalformedToken as exc:
        raise invalid_token() from exc
    kid, typ = header.get("kid"), header.get("typ")
    # RFC 9068 §4: the type keeps an ID token or another JWT from passing as an access token.
    if not isinstance(typ, str) or typ.lower() not in {JWT_TYPE, f"application/{JWT_TYPE}"}:
        raise invalid_token()
    if not isinstance(kid, str) or not kid:
        raise invalid_token()
    return kid


def verified_with(
    key: jwt.PyJWK, token: str, *, issuer: str, audience: str | None, now: datetime
) -> AccessClaims:
    """The claims of `token` if `key` signed it, for `issuer` (and `audience`, unless None),
    and it is valid at `now`; else `Unauthenticated` (`invalid_token`, `token_expired`)."""
    payload = _decoded(key, token, issuer, audience)
    check_times(payload, now)
    return _claims_from(payload)


def invalid_token() -> Unauthenticated:
    return Unauthenticated("the token is invalid", code="invalid_token")


def _decoded(key: jwt.PyJWK, token: str, issuer: str, audience: str | None) -> dict[str, Any]:
    try:
        # The algorithm comes from the key, never from the token header. Time claims are
        # checked afterwards against the verifier's clock, not PyJWT's wall clock.
        return jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            audience=audience,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": audience is not None,
                "strict_aud": True,
                "require": _REQUIRED_CLAIMS,
            },
        )
    except jwt.PyJWTError as exc:
        raise invalid_token() from exc


def check_times(payload: dict[str, Any], now: datetime, *, nbf_required: bool = True) -> None:
    """`exp`, `iat` and `nbf` against `now`, with `CLOCK_SKEW` either way; `nbf` may be
    absent when not `nbf_required` (a Cognito token has none). Also for other issuers'
    tokens (`tenantry.identities.issuers`), so that every token is timed alike."""
    moment = now.timestamp()
    skew = CLOCK_SKEW.total_seconds()
    if moment >= _seconds(payload, "exp") + skew:
        raise Unauthenticated("the token has expired", code="token_expired")
    for name in ("iat", "nbf"):
        if (name in payload or nbf_required) and _seconds(payload, name) > moment + skew:
            raise invalid_token()


def _claims_from(payload: dict[str, Any]) -> AccessClaims:
    if payload["token_use"] != USE_ACCESS:
        raise invalid_token()
    return AccessClaims(
        user_id=_text(payload, "sub"),
        session_id=_text(payload, "sid"),
        token_id=_text(payload, "jti"),
        issued_at=_datetime(payload, "iat"),
        expires_at=_datetime(payload, "exp"),
        org_id=_text(payload, "org_id") if "org_id" in payload else None,
        org_role=_org_role(payload.get("org_role")),
    )


def _org_role(value: object) -> OrgRole | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_token()
    try:
        return OrgRole(value)
    except ValueError as exc:
        raise invalid_token() from exc


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise invalid_token()
    return value


def _seconds(payload: dict[str, Any], name: str) -> float:
    value = payload[name]
    # bool is an int, Python's json reads NaN and Infinity, and a JSON integer may be too
    # large for a double: none of them is a time.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_token()
    try:
        seconds = float(value)
    except OverflowError as error:
        raise invalid_token() from error
    if not math.isfinite(seconds):
        raise invalid_token()
    return seconds


def _datetime(payload: dict[str, Any], name: str) -> datetime:
    try:
        return datetime.fromtimestamp(_seconds(payload, name), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise invalid_token() from exc
