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
    _check_times(payload, now)
    return _claims_from(payload)


def invalid_token() -> Unauthenticated:
    return Unauthenticated("the access token is invalid", code="invalid_token")


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


def _check_times(payload: dict[str, Any], now: datetime) -> None:
    moment = now.timestamp()
    skew = CLOCK_SKEW.total_seconds()
    expires, issued, not_before = (_seconds(payload, name) for name in ("exp", "iat", "nbf"))
    if moment >= expires + skew:
        raise Unauthenticated("the access token has expired", code="token_expired")
    if issued > moment + skew or not_before > moment + skew:
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
    # bool is an int, and Python's json reads NaN and Infinity: none of them is a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_token()
    return float(value)


def _datetime(payload: dict[str, Any], name: str) -> datetime:
    try:
        return datetime.fromtimestamp(_seconds(payload, name), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise invalid_token() from exc
