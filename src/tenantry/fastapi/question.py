"""A check the dependency asks, and who answers it: tenantry over HTTP (`over_http`) or
tenantry in this process (`in_process`). Both answer with the client's `Authorization`, read
from the same wire schema (`AuthorizeOut`), so a route cannot tell them apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from tenantry.client import Authorization


@dataclass(frozen=True, slots=True)
class Question:
    token: str
    org_id: str
    permissions: tuple[str, ...]
    team_id: str | None
    min_epoch: int | None
    explain: bool


class Decider(Protocol):
    async def __call__(self, request: Request, question: Question) -> Authorization: ...
