"""Encryption of private signing keys at rest, under a key derived from the service secret."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantry.settings import Settings

# Fixed, versioned labels: changing either makes every stored private key unreadable.
_HKDF_SALT = b"tenantry/signing-key-encryption/v1"
_HKDF_INFO = b"tenantry fernet key for signing keys"

log = structlog.get_logger()


class KeyDecryptionError(Exception):
    """A stored private key could not be decrypted: usually the secret key has changed."""


class KeyCipher:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the secret key must not be empty")
        self._fernet = Fernet(derive_fernet_key(secret, salt=_HKDF_SALT, info=_HKDF_INFO))

    def encrypt(self, plaintext: bytes) -> str:
        return self._fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, ciphertext: str) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise KeyDecryptionError(
                "cannot decrypt a signing key: TENANTRY_SECRET_KEY differs from the one "
                "that encrypted it"
            ) from exc


def derive_fernet_key(secret: str, *, salt: bytes, info: bytes) -> bytes:
    """A Fernet key of its own for each use of the service secret (`salt` and `info` name it)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info)
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8")))


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret, else the one in `secret_key_file`, else a new one stored there.

    Production settings refuse a missing secret, so only development and test reach the file.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.secret_key_file
    if path.exists():
        return _read_secret(path)
    return _store_new_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(f"the secret key file {path} is empty")
    return secret


def _store_new_secret(path: Path) -> str:
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    # Created 0600 from the start, so the secret is never readable by others, not even briefly.
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(secret + "\n")
    try:
        # A hard link publishes the file whole and fails if it exists: when several workers
        # start at once, exactly one secret wins and nobody reads a half-written file.
        os.link(staging, path)
    except FileExistsError:
        return _read_secret(path)
    finally:
        staging.unlink()
    log.warning(
        "generated a new secret key; set TENANTRY_SECRET_KEY to manage it yourself",
        secret_key_file=str(path.resolve()),
    )
    return secret
