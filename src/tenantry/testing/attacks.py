"""The JWT attack corpus (RFC 8725, the JWT BCP): tokens made from a genuine access token of
tenantry's, each of which every entry point must refuse.

`forged` needs nothing but the token and the published keys: what anyone holding a token can
try, and what `tenantry probe` tries against a running target. `re_signed` changes the token
and signs it again with tenantry's own key (the suite has it): only the change can make such
a token fail, so each one tests one check. Two of them are controls that must be accepted:
a token just inside the clock leeway on either side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.testing.issuer import public_jwks
from tenantry.tokens.access_token import CLOCK_SKEW
from tenantry.tokens.compact import base64url, read_compact

INVALID, EXPIRED, REVOKED = "invalid_token", "token_expired", "token_revoked"
ACCEPTED = "accepted"  # a control: the same checks must let this one through
LEEWAY_SECONDS = int(CLOCK_SKEW.total_seconds())  # on exp, nbf and iat (docs/tokens.md)
OVERSIZED_BYTES = 16_384

# Signs a header and claims given as JSON text with tenantry's key for the token's kid.
SignText = Callable[[str, str], str]


def bearer_routes(org_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Where an attack token is tried over HTTP: an organisation's route, and the authorizer
    asked about the same organisation (method, path, body)."""
    asked = {"organisation_id": org_id, "permission": "organisation:read"}
    return [("GET", f"/v1/organisations/{org_id}", None), ("POST", "/v1/authorize", asked)]


@dataclass(frozen=True)
class Attack:
    name: str
    token: str
    refused_as: str  # the 401 code (`invalid_token`, `token_expired`, `token_revoked`) or ACCEPTED


def compact(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    return f"{_json_segment(header)}.{_json_segment(claims)}.{base64url(signature)}"


def _json_segment(value: Mapping[str, Any]) -> str:
    return base64url(json.dumps(value).encode())


def forged(token: str, jwks: Mapping[str, Any], *, lure_url: str) -> list[Attack]:
    """Tokens made from `token` and tenantry's published keys; `lure_url` is a loopback
    server that must never be asked for anything (the `jku`/`x5u` attacks point at it)."""
    head, body, signature = token.split(".")
    header, claims = (genuine := read_compact(token)).header, genuine.claims
    ours = next(k for k in jwks["keys"] if k.get("kid") == header.get("kid"))
    stranger = ec.generate_private_key(ec.SECP256R1())
    strangers_kid = "key_" + secrets.token_hex(8)

    def by_stranger(extra: Mapping[str, Any], kid: Any = strangers_kid, **changed: Any) -> str:
        # Signed by hand: PyJWT would refuse to write some of these headers at all.
        headers = {"alg": "ES256", "typ": header.get("typ"), "kid": kid, **extra}
        signing_input = f"{_json_segment(headers)}.{_json_segment({**claims, **changed})}"
        es256 = jwt.algorithms.get_default_algorithms()["ES256"]
        return f"{signing_input}.{base64url(es256.sign(signing_input.encode(), stranger))}"

    attacks = [
        *(
            Attack(f"alg {alg!r}", compact({**header, "alg": alg}, claims), INVALID)
            for alg in ("none", "None", "NONE", "nOnE")
        ),
        Attack(
            "alg none, the signature kept",
            f"{base64url(json.dumps({**header, 'alg': 'none'}).encode())}.{body}.{signature}",
            INVALID,
        ),
        Attack("signature stripped", f"{head}.{body}.", INVALID),
        Attack("signature and its dot stripped", f"{head}.{body}", INVALID),
        Attack(
            "claims changed, signature kept",
            f"{head}.{_json_segment({**claims, 'sub': 'usr_' + 'x' * 24})}.{signature}",
            INVALID,
        ),
        *(
            Attack(
                f"HS256 keyed with the public key as {form}",
                _hmac_keyed(header, claims, secret),
                INVALID,
            )
            for form, secret in _public_key_forms(ours).items()
        ),
        Attack(
            "a stranger's key under tenantry's kid", by_stranger({}, kid=header["kid"]), INVALID
        ),
        Attack("a kid tenantry never published", by_stranger({}), INVALID),
        Attack(
            "the stranger's key embedded (jwk)",
            by_stranger({"jwk": public_jwks(stranger, strangers_kid, "ES256")["keys"][0]}),
            INVALID,
        ),
        Attack(
            "the stranger's keys at a URL (jku)",
            by_stranger({"jku": lure_url + "/jwks.json"}),
            INVALID,
        ),
        Attack(
            "the stranger's certificate at a URL (x5u)",
            by_stranger({"x5u": lure_url + "/cert.pem"}),
            INVALID,
        ),
        Attack(
            "kid path traversal, HS256 with an empty key",
            _hmac_keyed({**header, "kid": "../../../../../../dev/null"}, claims, b""),
            INVALID,
        ),
        Attack(
            "kid path traversal, signed by a stranger",
            by_stranger({}, kid="../../../../etc/passwd"),
            INVALID,
        ),
        Attack("kid SQL injection", by_stranger({}, kid="x' UNION SELECT 'secret' --"), INVALID),
        Attack("kid with a NUL byte", by_stranger({}, kid=header["kid"] + "\u0000"), INVALID),
        Attack("kid not a string", by_stranger({}, kid=["a", "b"]), INVALID),
        Attack(
            "oversized, signed by a stranger", by_stranger({}, pad="x" * OVERSIZED_BYTES), INVALID
        ),
        Attack("not a JWT", "not-a-token", INVALID),
        Attack("empty parts", "..", INVALID),
        Attack("four parts", f"{token}.{signature}", INVALID),
        Attack("JWE-shaped (five parts)", f"{head}.{body}.{signature}.{body}.{signature}", INVALID),
    ]
    return attacks


def re_signed(token: str, sign: SignText, *, now: int) -> list[Attack]:
    """`token` changed one way at a time and signed again by tenantry's own key."""
    header, claims = (genuine := read_compact(token)).header, genuine.claims

    def changed(header_changes: Mapping[str, Any] | None = None, **claim_changes: Any) -> str:
        h = {k: v for k, v in {**header, **(header_changes or {})}.items() if v is not _DROP}
        c = {k: v for k, v in {**claims, **claim_changes}.items() if v is not _DROP}
        return sign(json.dumps(h, separators=(",", ":")), json.dumps(c, separators=(",", ":")))

    plain_h = json.dumps(header, separators=(",", ":"))
    plain_c = json.dumps(claims, separators=(",", ":"))
    return [
        Attack("unchanged (control)", changed(), ACCEPTED),
        Attack("expired a second past the leeway", changed(exp=now - LEEWAY_SECONDS - 1), EXPIRED),
        Attack(
            "expired a second inside the leeway (control)",
            changed(exp=now - LEEWAY_SECONDS + 1),
            ACCEPTED,
        ),
        Attack(
            "not before, a second past the leeway", changed(nbf=now + LEEWAY_SECONDS + 1), INVALID
        ),
        Attack(
            "not before, a second inside the leeway (control)",
            changed(nbf=now + LEEWAY_SECONDS - 1),
            ACCEPTED,
        ),
        Attack("issued in the future", changed(iat=now + LEEWAY_SECONDS + 60), INVALID),
        Attack("no exp", changed(exp=_DROP), INVALID),
        Attack("another issuer", changed(iss="https://elsewhere.example"), INVALID),
        Attack("another audience", changed(aud="https://elsewhere.example"), INVALID),
        Attack(
            "an audience list without ours",
            changed(aud=["https://a.example", "https://b.example"]),
            INVALID,
        ),
        Attack("an ID token's type (typ JWT)", changed({"typ": "JWT"}), INVALID),
        Attack("no type", changed({"typ": _DROP}), INVALID),
        Attack(
            "a second sub after ours",
            sign(plain_h, plain_c[:-1] + ',"sub":"usr_' + "y" * 24 + '"}'),
            INVALID,
        ),
        Attack(
            "a second iss before ours",
            sign(plain_h, '{"iss":"https://evil.example",' + plain_c[1:]),
            INVALID,
        ),
        Attack(
            "a second alg in the header",
            sign('{"alg":"none",' + plain_h[1:], plain_c),
            INVALID,
        ),
        Attack("NaN in a claim", sign(plain_h, plain_c[:-1] + ',"scope":NaN}'), INVALID),
    ]


_DROP: Any = object()  # a claim or header member left out


def _public_key_forms(jwk: Mapping[str, Any]) -> dict[str, bytes]:
    """The published key as an attacker would feed it to HMAC: PEM, DER and the JWK text."""
    public = jwt.PyJWK(dict(jwk)).key
    return {
        "PEM": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "DER": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "JWK": json.dumps(dict(jwk)).encode(),
    }


def _hmac_keyed(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    signing_input = f"{_json_segment({**header, 'alg': 'HS256'})}.{_json_segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64url(mac)}"
