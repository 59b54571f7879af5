"""The DynamoDB store: one table, a unit of work a use case, named by a URL:

    dynamodb://TABLE?region=eu-west-1
    dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000   (DynamoDB Local)

Credentials come from boto3's usual chain (environment, profile, the Lambda role), never
from the URL.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from tenantry.authorizer.feed import LiveSessions
from tenantry.domain.errors import Unavailable
from tenantry.settings import DynamoTarget, dynamo_target
from tenantry.store.dynamo.accounts import DynamoUsers
from tenantry.store.dynamo.audit import DynamoAudit
from tenantry.store.dynamo.identities import DynamoIdentityLinks
from tenantry.store.dynamo.invitations import DynamoInvitations
from tenantry.store.dynamo.keys_and_jobs import DynamoJobs, DynamoSigningKeys
from tenantry.store.dynamo.organisations import DynamoMemberships, DynamoOrganisations
from tenantry.store.dynamo.outbox import DynamoOutbox
from tenantry.store.dynamo.reads import Reads
from tenantry.store.dynamo.roles import DynamoRoleAssignments, DynamoRoles
from tenantry.store.dynamo.sessions import DynamoSessions
from tenantry.store.dynamo.teams import DynamoTeamMemberships, DynamoTeams
from tenantry.store.dynamo.tokens import DynamoOneTimeTokens, DynamoRefreshTokens
from tenantry.store.dynamo.writes import Writes


class DynamoUnitOfWork:
    """The scope (`org_id`, `user_id`) is accepted and not kept: every key names the
    organisation or user it belongs to, and every repository method names them too."""

    def __init__(self, client: Any, table: str, request_id: str | None) -> None:
        self._client = client
        self._table = table
        self._request_id = request_id
        self._writes: Writes | None = None
        self._reads = Reads(client, table)

    def __enter__(self) -> Self:
        if self._writes is not None:
            raise RuntimeError("a unit of work is entered once")
        reads = self._reads
        writes = self._writes = Writes(self._client, self._table, reads.get)
        self.users = DynamoUsers(reads, writes)
        self.organisations = DynamoOrganisations(reads, writes)
        self.memberships = DynamoMemberships(reads, writes)
        self.sessions = DynamoSessions(reads, writes)
        self.signing_keys = DynamoSigningKeys(reads, writes)
        self.jobs = DynamoJobs(reads, writes)
        self.identity_links = DynamoIdentityLinks(reads, writes)
        self.roles = DynamoRoles(reads, writes)
        self.role_assignments = DynamoRoleAssignments(reads, writes)
        self.teams = DynamoTeams(reads, writes)
        self.team_memberships = DynamoTeamMemberships(reads, writes)
        self.invitations = DynamoInvitations(reads, writes)
        self.one_time_tokens = DynamoOneTimeTokens(reads, writes)
        self.refresh_tokens = DynamoRefreshTokens(reads, writes)
        self.outbox = DynamoOutbox(reads, writes)
        self.audit = DynamoAudit(reads, writes, self._request_id)
        return self

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        """Nothing to bind: DynamoDB has no session state."""

    def commit(self) -> None:
        try:
            self._open_writes().commit()
        finally:
            self._reads.forget()

    def rollback(self) -> None:
        self._open_writes().rollback()
        self._reads.forget()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        writes = self._open_writes()
        writes.rollback()  # what was not committed is dropped
        writes.closed = True
        self._reads.closed = True

    def _open_writes(self) -> Writes:
        if self._writes is None or self._writes.closed:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._writes

    def __getattr__(self, name: str) -> object:
        # Only reached for the repositories, before `__enter__` attached them.
        raise RuntimeError(f"unit of work used outside its `with` block ({name})")


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
        return DynamoUnitOfWork(self._client, self.table, request_id)

    def ping(self) -> None:
        try:
            self._client.describe_table(TableName=self.table)
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(f"the store did not answer: {type(error).__name__}") from None

    def check_tenant_isolation(self) -> None:
        """Nothing to check: DynamoDB has no rows a role sees; every key of an organisation's
        items names it, and every read names the organisation it is for."""

    def listen_for_changes(self, sink: LiveSessions) -> None:
        """No feed (DynamoDB Streams could be one): every check reads the session."""
        return None

    def dispose(self) -> None:
        """boto3's clients need no closing."""


def open_dynamo_store(url: str) -> DynamoStore:
    """The store a `dynamodb://` URL names (see the module's docstring)."""
    target = dynamo_target(url)
    return DynamoStore(dynamo_client(target), target.table)


def dynamo_client(target: DynamoTarget) -> Any:
    import boto3  # only a DynamoDB deployment pays for importing it

    return boto3.client("dynamodb", region_name=target.region, endpoint_url=target.endpoint)
