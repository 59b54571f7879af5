"""What every wire shape shares: inputs forbid unknown fields and NUL characters; lists
are pages."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
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


def encoded(model: BaseModel, status_code: int = 200) -> JSONResponse:
    """The answer, encoded to bytes now. A route whose use case writes builds its answer this
    way inside the use case (`run(lambda uow: encoded(Out.of(use_case(uow))))`), so the
    answer is rendered before the commit: a change that could not be answered is not made."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code)
