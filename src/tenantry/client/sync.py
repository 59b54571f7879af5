"""`TenantryClient`: tenantry's v1 API over httpx, blocking."""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import count
from types import TracebackType
from typing import Any, TypeVar

import httpx

from tenantry.client import calls
from tenantry.client.calls import DEFAULT_TIMEOUT, Call, Retries
from tenantry.client.models import Authorization, Me, TokenPair, Written

T = TypeVar("T")


class TenantryClient:
    """One connection pool to one tenantry; thread-safe as httpx is. Refusals raise
    `tenantry.client.TenantryProblem` subclasses; a tenantry that cannot be reached raises
    `Unavailable` with code `unreachable`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: Retries | None = None,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, trust_env=trust_env, transport=transport
        )
        self._retries = retries or Retries()

    def __enter__(self) -> TenantryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def login(self, email: str, password: str, organisation_id: str | None = None) -> TokenPair:
        return self._run(calls.login(email, password, organisation_id))

    def refresh(self, refresh_token: str, organisation_id: str | None = None) -> TokenPair:
        return self._run(calls.refresh(refresh_token, organisation_id))

    def logout(self, token: str, refresh_token: str | None = None) -> None:
        self._run(calls.logout(token, refresh_token))

    def authorize(
        self,
        token: str,
        organisation_id: str,
        permission: str | Sequence[str],
        *,
        team_id: str | None = None,
        min_epoch: int | None = None,
        explain: bool = False,
    ) -> Authorization:
        """May `token` do `permission` (one, or up to 100 together) in the organisation (and
        team)? A denial is an answer (`allowed` false, with reasons), not an exception."""
        return self._run(
            calls.authorize(
                token,
                organisation_id,
                permission,
                team_id=team_id,
                min_epoch=min_epoch,
                explain=explain,
            )
        )

    def me(self, token: str) -> Me:
        return self._run(calls.me(token))

    def create_role(
        self,
        token: str,
        org_id: str,
        name: str,
        permissions: Sequence[str],
        *,
        description: str | None = None,
        scope: str | None = None,
    ) -> Written:
        call = calls.create_role(
            token, org_id, name, permissions, description=description, scope=scope
        )
        return self._run(call)

    def assign_role(self, token: str, org_id: str, user_id: str, role_id: str) -> Written:
        return self._run(calls.assign_role(token, org_id, user_id, role_id))

    def create_team(
        self, token: str, org_id: str, name: str, *, description: str | None = None
    ) -> Written:
        return self._run(calls.create_team(token, org_id, name, description=description))

    def add_team_member(
        self, token: str, org_id: str, team_id: str, user_id: str, team_role: str = "MEMBER"
    ) -> Written:
        return self._run(calls.add_team_member(token, org_id, team_id, user_id, team_role))

    def request(
        self, method: str, path: str, *, token: str | None = None, json: Any = None
    ) -> dict[str, Any]:
        """Any other v1 call: the answer's JSON body (`{}` for a 204). GET, PUT and DELETE
        are retried like the typed reads; other methods are not."""
        return self._run(calls.request(method, path, token=token, json=json))

    def _run(self, call: Call[T]) -> T:
        for retry in count():
            try:
                response = self._http.send(call.request(self._http))
            except httpx.TransportError as error:
                wait = self._retries.delay(call, retry, error)
                if wait is None:
                    raise calls.unreachable(error) from error
            else:
                wait = self._retries.delay(call, retry, response)
                if wait is None:
                    return call.answer(response)
                response.close()
            time.sleep(wait)
        raise AssertionError("unreachable: count() never ends")
