"""The SQL unit of work: one connection, one transaction, tenant scope for RLS."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from tenantry.accounts.ports import OneTimeTokensRepository, UsersRepository
from tenantry.audit.ports import AuditRepository
from tenantry.domain.errors import Conflict, Unavailable
from tenantry.keys.ports import SigningKeysRepository
from tenantry.organisations.ports import MembershipsRepository, OrganisationsRepository
from tenantry.outbox.ports import OutboxRepository
from tenantry.sessions.ports import RefreshTokensRepository, SessionsRepository
from tenantry.store.sql.accounts import SqlOneTimeTokens, SqlRefreshTokens, SqlSessions, SqlUsers
from tenantry.store.sql.audit import SqlAudit
from tenantry.store.sql.keys import SqlSigningKeys
from tenantry.store.sql.organisations import SqlMemberships, SqlOrganisations
from tenantry.store.sql.outbox import SqlOutbox

_SET_SCOPE = sa.text(
    "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true)"
)


class SqlUnitOfWork:
    users: UsersRepository
    organisations: OrganisationsRepository
    memberships: MembershipsRepository
    sessions: SessionsRepository
    refresh_tokens: RefreshTokensRepository
    one_time_tokens: OneTimeTokensRepository
    audit: AuditRepository
    outbox: OutboxRepository
    signing_keys: SigningKeysRepository

    def __init__(
        self,
        engine: Engine,
        *,
        org_id: str | None,
        user_id: str | None,
        request_id: str | None,
        read_only: bool,
    ) -> None:
        self._engine = engine
        self._scope = (org_id, user_id)
        self._request_id = request_id
        self._read_only = read_only
        self._connection: sa.Connection | None = None

    def __enter__(self) -> Self:
        mode = "DEFERRED" if self._read_only else "IMMEDIATE"
        try:
            connection = self._engine.connect().execution_options(sqlite_begin=mode)
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
        self.users = SqlUsers(connection)
        self.organisations = SqlOrganisations(connection)
        self.memberships = SqlMemberships(connection)
        self.sessions = SqlSessions(connection)
        self.refresh_tokens = SqlRefreshTokens(connection)
        self.one_time_tokens = SqlOneTimeTokens(connection)
        self.audit = SqlAudit(connection, self._request_id)
        self.outbox = SqlOutbox(connection)
        self.signing_keys = SqlSigningKeys(connection)

    def bind(self, *, org_id: str | None = None, user_id: str | None = None) -> None:
        self._scope = (org_id or self._scope[0], user_id or self._scope[1])
        connection = self._require_connection()
        if connection.dialect.name == "postgresql":
            connection.execute(_SET_SCOPE, {"org_id": self._scope[0], "user_id": self._scope[1]})

    def commit(self) -> None:
        try:
            self._require_connection().commit()
        except DBAPIError as error:
            raise Unavailable("the change could not be saved", code="commit_failed") from error

    def rollback(self) -> None:
        self._require_connection().rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._require_connection()
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()
            self._connection = None
        # A constraint no precondition anticipated is still a conflict with stored data; any
        # other failed statement (deadlock, lock timeout, lost connection) is the store being
        # unavailable. Either way nothing was applied, and the client is told so, not a 500.
        if isinstance(exc, IntegrityError):
            raise Conflict("the change conflicts with stored data", code="conflict") from exc
        if isinstance(exc, DBAPIError):
            raise _unavailable() from exc

    def _require_connection(self) -> sa.Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._connection


def _unavailable() -> Unavailable:
    return Unavailable("the store is unavailable; nothing was changed", code="store_unavailable")
