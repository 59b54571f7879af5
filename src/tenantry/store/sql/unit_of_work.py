"""The SQL unit of work: reads at once, writes buffered and applied at commit.

On SQLite the reads run in a deferred (read) transaction, so a slow use case (a password
check) holds no write lock; commit then takes the write lock (`BEGIN IMMEDIATE`) only for as
long as its writes take, and their preconditions catch whatever changed since the reads. On
PostgreSQL reads and writes share one transaction, scoped for row-level security.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from tenantry.domain.errors import Unavailable
from tenantry.store.sql.accounts import SqlOneTimeTokens, SqlUsers
from tenantry.store.sql.audit import SqlAudit, append_chained
from tenantry.store.sql.identities import SqlIdentityLinks
from tenantry.store.sql.invitations import SqlInvitations
from tenantry.store.sql.jobs import SqlJobs
from tenantry.store.sql.keys import SqlSigningKeys
from tenantry.store.sql.organisations import SqlMemberships, SqlOrganisations
from tenantry.store.sql.outbox import SqlOutbox
from tenantry.store.sql.roles import SqlRoleAssignments, SqlRoles
from tenantry.store.sql.sessions import SqlRefreshTokens, SqlSessions
from tenantry.store.sql.teams import SqlTeamMemberships, SqlTeams
from tenantry.store.sql.writes import WriteBuffer, apply_intents

_SET_SCOPE = sa.text(
    "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true)"
)


class SqlUnitOfWork:
    def __init__(
        self,
        engine: Engine,
        *,
        org_id: str | None,
        user_id: str | None,
        request_id: str | None,
    ) -> None:
        self._engine = engine
        self._scope = (org_id, user_id)
        # What the transaction is scoped to now: a new transaction has no `app.*` settings.
        self._applied: tuple[str | None, str | None] = (None, None)
        self._request_id = request_id
        self._writes = WriteBuffer()
        self._connection: sa.Connection | None = None

    def __enter__(self) -> Self:
        try:
            connection = self._engine.connect().execution_options(sqlite_begin="DEFERRED")
        except DBAPIError as error:
            raise _unavailable() from error
        self._connection = connection
        try:
            connection.begin()
            self._attach_repositories(connection)
            self.bind(org_id=self._scope[0], user_id=self._scope[1])
        except BaseException as error:
            self.__exit__(type(error), error, error.__traceback__)  # never leak the connection
            raise
        return self

    def _attach_repositories(self, connection: sa.Connection) -> None:
        writes = self._writes
        self.users = SqlUsers(connection, writes)
        self.organisations = SqlOrganisations(connection, writes)
        self.memberships = SqlMemberships(connection, writes)
        self.sessions = SqlSessions(connection, writes)
        self.refresh_tokens = SqlRefreshTokens(connection, writes)
        self.one_time_tokens = SqlOneTimeTokens(connection, writes)
        self.audit = SqlAudit(connection, writes, self._request_id)
        self.outbox = SqlOutbox(connection, writes)
        self.signing_keys = SqlSigningKeys(connection, writes)
        self.jobs = SqlJobs(connection, writes)
        self.roles = SqlRoles(connection, writes)
        self.role_assignments = SqlRoleAssignments(connection, writes)
        self.teams = SqlTeams(connection, writes)
        self.team_memberships = SqlTeamMemberships(connection, writes)
        self.identity_links = SqlIdentityLinks(connection, writes)
        self.invitations = SqlInvitations(connection, writes)

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        self._scope = (org_id or self._scope[0], user_id or self._scope[1])
        connection = self._require_connection()
        # Only a change costs a round trip: the bearer check and the use case bind the same
        # scope again and again on every request.
        if connection.dialect.name == "postgresql" and self._scope != self._applied:
            connection.execute(_SET_SCOPE, {"org_id": self._scope[0], "user_id": self._scope[1]})
            self._applied = self._scope

    def commit(self) -> None:
        connection = self._require_connection()
        intents, events = self._writes.take()
        if not intents and not events:
            connection.rollback()  # nothing to write: end the read transaction
            self._applied = (None, None)  # a later bind scopes the next one
            return
        try:
            self._begin_writing(connection)
            apply_intents(connection, intents)
            # Last, so that a chain's head stays locked only while the commit finishes.
            append_chained(connection, events)
        except DBAPIError as error:
            raise _unavailable() from error
        try:
            connection.commit()
        except DBAPIError as error:
            raise Unavailable("the change could not be saved", code="commit_failed") from error
        self._applied = (None, None)  # a later bind scopes the next transaction

    def _begin_writing(self, connection: sa.Connection) -> None:
        if connection.dialect.name != "sqlite":
            return
        # A deferred transaction that starts writing may find its snapshot stale and fail at
        # once, whatever the busy timeout; a fresh IMMEDIATE one waits for the lock instead.
        connection.rollback()
        connection.execution_options(sqlite_begin="IMMEDIATE")
        connection.begin()

    def rollback(self) -> None:
        self._writes.take()
        self._require_connection().rollback()
        self._rescope()

    def _rescope(self) -> None:
        # The `app.*` settings were local to the transaction that ended; the next one (begun
        # by the next statement) must be scoped the same, or row-level security hides its rows.
        self._applied = (None, None)
        self.bind()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writes.take()
        self._writes.closed = True
        connection = self._require_connection()
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()
            self._connection = None
        # A failed read (deadlock, lock timeout, lost connection) is the store being
        # unavailable: nothing was applied, and the client is told so, not a 500.
        if isinstance(exc, DBAPIError):
            raise _unavailable() from exc

    def __getattr__(self, name: str) -> object:
        # Only reached for the repositories, before `__enter__` attached them.
        raise RuntimeError(f"unit of work used outside its `with` block ({name})")

    def _require_connection(self) -> sa.Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._connection


def _unavailable() -> Unavailable:
    return Unavailable("the store is unavailable; nothing was changed", code="store_unavailable")
