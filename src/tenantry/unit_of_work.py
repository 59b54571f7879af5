"""The one declaration of the repository set, and the contract of a unit of work.

A unit of work is one use case's view of the store. Reads go to the store at once. Writes are
intents, buffered in order, each carrying its precondition; `commit` applies them all or none
(one SQL transaction, one DynamoDB TransactWriteItems). A failed precondition surfaces at
commit as that write's `on_conflict` error, or as the `Conflict` its port names, so a use case
never catches a conflict mid-way, and never reads back its own uncommitted writes.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from tenantry.accounts.ports import OneTimeTokensRepository, UsersRepository
from tenantry.audit.ports import AuditRepository
from tenantry.identities.ports import IdentityLinksRepository
from tenantry.invitations.ports import InvitationsRepository
from tenantry.jobs.ports import JobsRepository
from tenantry.keys.ports import SigningKeysRepository
from tenantry.organisations.ports import MembershipsRepository, OrganisationsRepository
from tenantry.outbox.ports import OutboxRepository
from tenantry.roles.ports import RoleAssignmentsRepository, RolesRepository
from tenantry.sessions.ports import RefreshTokensRepository, SessionsRepository
from tenantry.teams.ports import TeamMembershipsRepository, TeamsRepository


class Repositories(Protocol):
    """The repository set, declared once; a store's unit of work has each as an attribute
    (read-only here, so that a store may name its own repository classes)."""

    @property
    def users(self) -> UsersRepository: ...
    @property
    def organisations(self) -> OrganisationsRepository: ...
    @property
    def memberships(self) -> MembershipsRepository: ...
    @property
    def sessions(self) -> SessionsRepository: ...
    @property
    def refresh_tokens(self) -> RefreshTokensRepository: ...
    @property
    def one_time_tokens(self) -> OneTimeTokensRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def signing_keys(self) -> SigningKeysRepository: ...
    @property
    def jobs(self) -> JobsRepository: ...
    @property
    def roles(self) -> RolesRepository: ...
    @property
    def role_assignments(self) -> RoleAssignmentsRepository: ...
    @property
    def teams(self) -> TeamsRepository: ...
    @property
    def team_memberships(self) -> TeamMembershipsRepository: ...
    @property
    def identity_links(self) -> IdentityLinksRepository: ...
    @property
    def invitations(self) -> InvitationsRepository: ...


class UnitOfWork(Repositories, Protocol):
    """Opened by the edge, committed once by the edge, never below it."""

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Scope the unit of work to a tenant and a user (PostgreSQL sets `app.org_id`)."""

    def commit(self) -> None:
        """Apply the buffered writes, all or none; raise the first failed write's conflict."""

    def rollback(self) -> None:
        """Drop the buffered writes."""

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
    ) -> UnitOfWork: ...
