"""What every wire shape shares: inputs forbid unknown fields and NUL characters; lists
are pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tenantry.domain.names import MAX_NAME_LENGTH
from tenantry.domain.paging import MAX_PAGE_SIZE


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

# The description of a person's or an organisation's name (`domain.names.clean_name`).
DISPLAY_NAME = (
    f"The display name: 1 to {MAX_NAME_LENGTH} visible characters once runs of white space "
    "are collapsed; no control or bidirectional control characters."
)

# The descriptions of every list's query parameters, `limit` and `cursor`.
LIMIT = f"The most items the page may hold, 1 to {MAX_PAGE_SIZE}."
CURSOR = (
    "The `next_cursor` of the previous page; absent for the first page. Opaque: one that "
    "the list did not hand out is refused with 422 `invalid_cursor`."
)


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="At most `limit` items, in the list's order.")
    next_cursor: str | None = Field(
        None,
        description="An opaque cursor: pass it as `cursor` for the next page. Null on the "
        "last page.",
    )


def encoded(model: BaseModel, status_code: int = 200) -> JSONResponse:
    """The answer, encoded to bytes now. A route whose use case writes builds its answer this
    way inside the use case (`run(lambda uow: encoded(Out.of(use_case(uow))))`), so the
    answer is rendered before the commit: a change that could not be answered is not made."""
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code)


# Every access-changing write answers with the organisation's authz epoch it committed; a
# later check that asks for at least this epoch sees the change (read-your-writes).
EPOCH_HEADER = "Tenantry-Authz-Epoch"


def with_epoch(response: Response, epoch: int) -> Response:
    response.headers[EPOCH_HEADER] = str(epoch)
    return response


def changed(model: BaseModel | None, epoch: int, status_code: int = 200) -> Response:
    """An access change's answer, encoded now (see `encoded`), with its epoch header; no
    body (204) when `model` is None."""
    response = Response(status_code=204) if model is None else encoded(model, status_code)
    return with_epoch(response, epoch)


def epoch_response(status_code: int, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry of a success that carries the epoch header."""
    header = {
        "description": "The organisation's authz epoch after this change: pass it as "
        "`min_epoch` to a later check to see the change.",
        "schema": {"type": "integer"},
    }
    return {status_code: {"description": description, "headers": {EPOCH_HEADER: header}}}


# Ids fit the 40-character id columns; a longer one is malformed input, refused before it
# reaches a query or the audit insert of the refusal (where PostgreSQL would reject it).
OrgId = Annotated[str, Path(max_length=40, description="The organisation's id (`org_…`).")]
UserId = Annotated[str, Path(max_length=40, description="The member's user id (`usr_…`).")]
RoleId = Annotated[str, Path(max_length=40, description="The role's id (`rol_…`).")]
TeamId = Annotated[str, Path(max_length=40, description="The team's id (`team_…`).")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200, description=CURSOR)]
