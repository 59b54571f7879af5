"""The DynamoDB store: one table, a unit of work a use case. In progress: its unit of work has
the repositories built so far (see `__init__.py`)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from tenantry.store.dynamo.accounts import DynamoUsers
from tenantry.store.dynamo.identities import DynamoIdentityLinks
from tenantry.store.dynamo.invitations import DynamoInvitations
from tenantry.store.dynamo.keys_and_jobs import DynamoJobs, DynamoSigningKeys
from tenantry.store.dynamo.organisations import DynamoMemberships, DynamoOrganisations
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.roles import DynamoRoleAssignments, DynamoRoles
from tenantry.store.dynamo.sessions import DynamoSessions
from tenantry.store.dynamo.teams import DynamoTeamMemberships, DynamoTeams
from tenantry.store.dynamo.tokens import DynamoOneTimeTokens, DynamoRefreshTokens
from tenantry.store.dynamo.writes import Writes


class DynamoUnitOfWork:
    """The scope (`org_id`, `user_id`) is accepted and not kept: every key names the
    organisation or user it belongs to, and every repository method names them too."""

    def __init__(self, client: Any, table: str) -> None:
        reads = Reads(client, table)
        self._writes = Writes(client, table, reads.get)
        self.users = DynamoUsers(reads, self._writes)
        self.organisations = DynamoOrganisations(reads, self._writes)
        self.memberships = DynamoMemberships(reads, self._writes)
        self.sessions = DynamoSessions(reads, self._writes)
        self.signing_keys = DynamoSigningKeys(reads, self._writes)
        self.jobs = DynamoJobs(reads, self._writes)
        self.identity_links = DynamoIdentityLinks(reads, self._writes)
        self.roles = DynamoRoles(reads, self._writes)
        self.role_assignments = DynamoRoleAssignments(reads, self._writes)
        self.teams = DynamoTeams(reads, self._writes)
        self.team_memberships = DynamoTeamMemberships(reads, self._writes)
        self.invitations = DynamoInvitations(reads, self._writes)
        self.one_time_tokens = DynamoOneTimeTokens(reads, self._writes)
        self.refresh_tokens = DynamoRefreshTokens(reads, self._writes)

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Nothing to bind: DynamoDB has no session state."""

    def commit(self) -> None:
        self._writes.commit()

    def rollback(self) -> None:
        self._writes.rollback()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writes.rollback()  # what was not committed is dropped


class DynamoStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self.table = table

    def unit_of_work(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
    ) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self._client, self.table)

    def ping(self) -> None:
        self._client.describe_table(TableName=self.table)

    def dispose(self) -> None:
        """boto3's clients need no closing."""
