"""tenantry in this process decides, when it is mounted in the product's app: `authorize`
runs as its `POST /v1/authorize` route runs it. Imported only by a `require(tenantry=...)`,
so a product that asks over HTTP does not load tenantry's server side."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from fastapi import Request
from pydantic import ValidationError

from tenantry.authorizer.routes import answer
from tenantry.authorizer.schemas import AuthorizeIn
from tenantry.bootstrap import Tenantry
from tenantry.client import Authorization
from tenantry.domain.errors import TenantryError
from tenantry.fastapi.problems import Refused, refused_by_tenantry
from tenantry.fastapi.question import Question
from tenantry.http.errors import invalid_fields, status_of
from tenantry.runner import Runner

TenantrySource = Tenantry | Callable[[Request], Tenantry]
AUTHORIZE_LABEL = "POST /v1/authorize"  # names the check in tenantry's failure events


@dataclass(frozen=True)
class InProcess:
    """tenantry in this process decides (`authorize` through a `Runner`, as its route runs
    it, in a worker thread); it verifies the bearer itself, so nothing is fetched."""

    tenantry: TenantrySource

    async def __call__(self, request: Request, question: Question) -> Authorization:
        source = self.tenantry
        here = source if isinstance(source, Tenantry) else source(request)
        body = _body(question)
        try:
            return await anyio.to_thread.run_sync(_decided, here, question.token, body)
        except TenantryError as error:
            raise refused_by_tenantry(status_of(error), error.code, error.detail) from error


def _body(question: Question) -> AuthorizeIn:
    """The question as tenantry's route reads it, so it is held to the same limits."""
    try:
        return AuthorizeIn(
            organisation_id=question.org_id,
            permissions=list(question.permissions),
            team_id=question.team_id,
            min_epoch=question.min_epoch,
            explain=question.explain,
        )
    except ValidationError as invalid:
        # As tenantry's route words it, so both modes answer alike.
        detail, _ = invalid_fields(invalid.errors())
        raise Refused(422, "validation_failed", detail) from invalid


def _decided(tenantry: Tenantry, token: str, body: AuthorizeIn) -> Authorization:
    run = Runner(tenantry, request_id=uuid.uuid4().hex, label=AUTHORIZE_LABEL)
    return Authorization.of(answer(run, token, body).model_dump(mode="json"))
