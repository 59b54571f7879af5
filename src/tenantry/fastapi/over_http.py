"""tenantry over HTTP decides (`POST /v1/authorize`), once the bearer is verified here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from tenantry.client import AsyncTenantryClient, Authorization, TenantryProblem
from tenantry.domain.errors import Unauthenticated
from tenantry.fastapi.local import LocalVerifier, verifier_for
from tenantry.fastapi.problems import Refused, authorizer_unavailable, refused_by_tenantry
from tenantry.fastapi.question import Question
from tenantry.tokens.jwks import KeysUnavailable

ClientSource = AsyncTenantryClient | Callable[[Request], AsyncTenantryClient]


@dataclass(frozen=True)
class OverHttp:
    """tenantry at the client's base URL decides; the bearer is verified here first unless
    `verify_locally` is False (True: the process's verifier for that tenantry)."""

    client: ClientSource
    verify_locally: bool | LocalVerifier
    audience: str | None

    async def __call__(self, request: Request, question: Question) -> Authorization:
        source = self.client
        client = source if isinstance(source, AsyncTenantryClient) else source(request)
        verifier = self._verifier(client)
        if verifier is not None:
            await _verified_here(verifier, question.token, self.audience)
        try:
            return await client.authorize(
                question.token,
                question.org_id,
                question.permissions,
                team_id=question.team_id,
                min_epoch=question.min_epoch,
                explain=question.explain,
            )
        except TenantryProblem as problem:
            raise refused_by_tenantry(problem.status, problem.code, problem.detail) from problem

    def _verifier(self, client: AsyncTenantryClient) -> LocalVerifier | None:
        if isinstance(self.verify_locally, LocalVerifier):
            return self.verify_locally
        if not self.verify_locally:
            return None
        return verifier_for(client.base_url)


async def _verified_here(verifier: LocalVerifier, token: str, audience: str | None) -> None:
    try:
        await verifier.verify(token, audience=audience)
    except Unauthenticated as refused:
        raise Refused(401, refused.code, refused.detail) from refused
    except KeysUnavailable as down:  # no keys known: nothing can be verified, so nothing runs
        raise authorizer_unavailable() from down
