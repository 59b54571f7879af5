"""Signing keys: generation, their public JWK (RFC 7517/7518/8037), and loading them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tenantry.domain.ids import new_id
from tenantry.domain.model import KeyState, SigningKey
from tenantry.tokens.cipher import KeyCipher
from tenantry.tokens.compact import base64url

# A key's JWS `alg`: what it signs with, and what its JWK and the headers of its tokens say.
SigningAlg: TypeAlias = Literal["ES256", "RS256", "EdDSA"]
SIGNING_ALGS: tuple[str, ...] = get_args(SigningAlg)
# What `TENANTRY_SIGNING_ALG` accepts: RFC 9864's `Ed25519`, or `EdDSA`, its older name.
ConfiguredAlg: TypeAlias = Literal["ES256", "RS256", "Ed25519", "EdDSA"]

PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_P256_COORDINATE_BYTES = 32
_RSA_BITS = 2048


def jws_alg(configured: ConfiguredAlg) -> SigningAlg:
    """The `alg` a key of the configured kind signs and is published with.

    An Ed25519 key is written `EdDSA`, not RFC 9864's `Ed25519`: PyJWT 2.15 has no algorithm
    of that name (its JWKS client skips such keys), and of the gateways in docs/tokens.md none
    is known to accept it, while all that verify Ed25519 accept `EdDSA`.
    """
    if configured == "Ed25519":
        return "EdDSA"
    return configured


def generate_signing_key(
    configured: ConfiguredAlg, clock_now: datetime, cipher: KeyCipher, state: KeyState
) -> SigningKey:
    alg = jws_alg(configured)
    private_key = _generate_private_key(alg)
    kid = new_id("key")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the cipher encrypts it; see KeyCipher
    )
    return SigningKey(
        kid=kid,
        alg=alg,
        public_jwk=_public_jwk(private_key.public_key(), kid=kid, alg=alg),
        private_key_encrypted=cipher.encrypt(pem),
        state=state,
        created_at=clock_now,
    )


def load_private_key(key: SigningKey, cipher: KeyCipher) -> PrivateKey:
    """Decrypt and parse the key, refusing one whose type does not match its `alg`."""
    loaded = serialization.load_pem_private_key(cipher.decrypt(key.private_key_encrypted), None)
    if key.alg == "EdDSA" and isinstance(loaded, ed25519.Ed25519PrivateKey):
        return loaded
    if (
        key.alg == "ES256"
        and isinstance(loaded, ec.EllipticCurvePrivateKey)
        and isinstance(loaded.curve, ec.SECP256R1)
    ):
        return loaded
    if key.alg == "RS256" and isinstance(loaded, rsa.RSAPrivateKey):
        return loaded
    raise ValueError(f"signing key {key.kid} does not hold an {key.alg} private key")


def _public_jwk(public_key: PublicKey, *, kid: str, alg: str) -> dict[str, Any]:
    return {**_key_members(public_key), "kid": kid, "alg": alg, "use": "sig"}


def _generate_private_key(alg: SigningAlg) -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {get_args(ConfiguredAlg)}")


def _key_members(public_key: PublicKey) -> dict[str, str]:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": base64url(raw)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        # RFC 7518 §6.2.1.2: coordinates are the full field size, leading zeros kept.
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": base64url(numbers.x.to_bytes(_P256_COORDINATE_BYTES, "big")),
            "y": base64url(numbers.y.to_bytes(_P256_COORDINATE_BYTES, "big")),
        }
    numbers_rsa = public_key.public_numbers()
    return {"kty": "RSA", "n": _base64url_uint(numbers_rsa.n), "e": _base64url_uint(numbers_rsa.e)}


def _base64url_uint(value: int) -> str:
    # RFC 7518 §2 Base64urlUInt: the minimal big-endian octets.
    return base64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


@dataclass(frozen=True, slots=True)
class CipherKeyFactory:
    """New signing keys of the configured kind, their private halves encrypted with the cipher."""

    alg: ConfiguredAlg
    cipher: KeyCipher

    def new_key(self, state: KeyState, now: datetime) -> SigningKey:
        return generate_signing_key(self.alg, now, self.cipher, state)
