"""What every wire shape shares: inputs forbid unknown fields and NUL characters; lists
are pages."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)

    @field_validator("*")
    @classmethod
    def _no_nul_character(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here as bad input, not later as a 500.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
