"""The memory unit of work: reads of committed state, writes buffered until `commit`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from tenantry.store.memory.accounts import MemoryUsers
from tenantry.store.memory.audit import MemoryAudit
from tenantry.store.memory.identities import MemoryIdentityLinks
from tenantry.store.memory.invitations import MemoryInvitations
from tenantry.store.memory.jobs import MemoryJobs
from tenantry.store.memory.keys import MemorySigningKeys
from tenantry.store.memory.organisations import MemoryMemberships, MemoryOrganisations
from tenantry.store.memory.outbox import MemoryOutbox
from tenantry.store.memory.roles import MemoryRoleAssignments, MemoryRoles
from tenantry.store.memory.sessions import MemorySessions
from tenantry.store.memory.teams import MemoryTeamMemberships, MemoryTeams
from tenantry.store.memory.tokens import MemoryOneTimeTokens, MemoryRefreshTokens
from tenantry.store.memory.transaction import CommittedState, Transaction


class MemoryUnitOfWork:
    """The scope (`org_id`, `user_id`) is accepted and not kept: memory has no row-level
    security, and every repository method already names the organisation it is for."""

    def __init__(
        self,
        committed: CommittedState,
        *,
        org_id: str | None,
        user_id: str | None,
        request_id: str | None,
    ) -> None:
        self._transaction = transaction = Transaction(committed)
        self.users = MemoryUsers(transaction)
        self.organisations = MemoryOrganisations(transaction)
        self.memberships = MemoryMemberships(transaction)
        self.sessions = MemorySessions(transaction)
        self.refresh_tokens = MemoryRefreshTokens(transaction)
        self.one_time_tokens = MemoryOneTimeTokens(transaction)
        self.audit = MemoryAudit(transaction, request_id)
        self.outbox = MemoryOutbox(transaction)
        self.signing_keys = MemorySigningKeys(transaction)
        self.jobs = MemoryJobs(transaction)
        self.roles = MemoryRoles(transaction)
        self.role_assignments = MemoryRoleAssignments(transaction)
        self.teams = MemoryTeams(transaction)
        self.invitations = MemoryInvitations(transaction)
        self.team_memberships = MemoryTeamMemberships(transaction)
        self.identity_links = MemoryIdentityLinks(transaction)

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        self._transaction.require_open()

    def commit(self) -> None:
        self._transaction.commit()

    def rollback(self) -> None:
        self._transaction.rollback()

    def __enter__(self) -> Self:
        self._transaction.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._transaction.close()
