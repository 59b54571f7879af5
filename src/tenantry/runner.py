"""How an edge (HTTP request, CLI command, Lambda invocation) runs its use cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tenantry.context import ServiceDeps
from tenantry.domain.errors import Unauthenticated
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.sessions import service as sessions
from tenantry.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from tenantry.bootstrap import Tenantry

T = TypeVar("T")


class Runner:
    """Runs one use case in one unit of work with one commit (`run_use_case`), for a caller:
    given (an operator at the CLI), or proven by a bearer token that is checked first, in the
    same unit of work."""

    def __init__(
        self,
        tenantry: Tenantry,
        *,
        request_id: str | None = None,
        token: str | None = None,
        principal: Principal | None = None,
        label: str | None = None,
    ) -> None:
        self.tenantry = tenantry
        self.request_id = request_id
        self.label = label
        self._token = token
        self._principal = principal

    @property
    def caller(self) -> Principal:
        """The authenticated caller; known once `run` has checked the token."""
        if self._principal is None:
            raise Unauthenticated("a bearer token is required", code="missing_token")
        return self._principal

    @property
    def caller_if_any(self) -> Principal | None:
        """The caller, when the request carried a bearer token (checked by `run`)."""
        return self._principal

    @property
    def deps(self) -> ServiceDeps:
        return self.tenantry.deps

    def __call__(self, use_case: Callable[[UnitOfWork], T]) -> T:
        # A caller already known (the operator, or the token's from an earlier call) scopes
        # the unit of work from the start: on PostgreSQL, row-level security reads it.
        org_id, user_id = self._scope()
        return run_use_case(
            self.tenantry.store.unit_of_work,
            self._authenticated(use_case),
            clock=self.tenantry.clock,
            org_id=org_id,
            user_id=user_id,
            request_id=self.request_id,
            label=self.label,
            actor=self._scope,
        )

    def _scope(self) -> tuple[str | None, str | None]:
        principal = self._principal
        return (principal.org_id, principal.user_id) if principal else (None, None)

    def _authenticated(self, use_case: Callable[[UnitOfWork], T]) -> Callable[[UnitOfWork], T]:
        token = self._token
        if token is None:
            return use_case

        def run(uow: UnitOfWork) -> T:
            self._principal = sessions.authenticate(uow, self.deps, token)
            return use_case(uow)

        return run
