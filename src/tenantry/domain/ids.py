"""Opaque, prefixed, random identifiers (`usr_…`, `org_…`). Never sequential."""

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_LENGTH = 24  # 120 bits of randomness


def new_id(prefix: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    return f"{prefix}_{body}"


def new_secret_token() -> str:
    """A bearer secret for links and refresh tokens; only its hash is ever stored."""
    return secrets.token_urlsafe(32)


def hash_secret(token: str) -> str:
    """Stored form of a bearer secret. Secrets are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()
