"""The one declaration of the repository set: a unit of work is one transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from tenantry.accounts.ports import OneTimeTokensRepository, UsersRepository
from tenantry.audit.ports import AuditRepository
from tenantry.keys.ports import SigningKeysRepository
from tenantry.organisations.ports import MembershipsRepository, OrganisationsRepository
from tenantry.outbox.ports import OutboxRepository
from tenantry.sessions.ports import RefreshTokensRepository, SessionsRepository


class UnitOfWork(Protocol):
    """One transaction. Opened by the edge, committed once by the edge, never below it."""

    users: UsersRepository
    organisations: OrganisationsRepository
    memberships: MembershipsRepository
    sessions: SessionsRepository
    refresh_tokens: RefreshTokensRepository
    one_time_tokens: OneTimeTokensRepository
    audit: AuditRepository
    outbox: OutboxRepository
    signing_keys: SigningKeysRepository

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Scope the transaction to a tenant and a user (PostgreSQL sets `app.org_id`)."""

    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
        read_only: bool = False,
    ) -> UnitOfWork: ...
