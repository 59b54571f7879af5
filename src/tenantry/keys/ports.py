"""The signing-key ring."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tenantry.domain.model import KeyState, SigningKey


class SigningKeysRepository(Protocol):
    def list(self) -> list[SigningKey]: ...
    def add(self, key: SigningKey) -> None: ...
    def set_state(self, kid: str, *, expected: KeyState, new: KeyState, at: datetime) -> None: ...
