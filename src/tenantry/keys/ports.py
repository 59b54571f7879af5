"""The signing-key ring, and the factory that makes (and encrypts) new keys."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.model import KeyState, SigningKey


class SigningKeysRepository(Protocol):
    def list(self) -> list[SigningKey]: ...
    def add(self, key: SigningKey) -> None: ...
    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None:
        """Precondition: the key is still in state `expected` (`Conflict` `key_state_changed`)."""


class KeyFactory(Protocol):
    def new_key(self, state: KeyState, now: datetime) -> SigningKey:
        """A fresh key pair in the configured algorithm, its private half encrypted."""
