"""Sessions in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Page, Session
from tenantry.store.cursor import SESSIONS, decode_cursor, page_of, session_position
from tenantry.store.memory.cursor import follows_newest_first
from tenantry.store.memory.state import MemoryState
from tenantry.store.memory.table import Table
from tenantry.store.memory.transaction import Transaction


def _sessions(state: MemoryState) -> dict[str, Session]:
    return state.sessions


class MemorySessions:
    def __init__(self, transaction: Transaction) -> None:
        self._table = Table(transaction, _sessions)

    def get(self, session_id: str) -> Session | None:
        return self._table.get(session_id)

    def add(self, session: Session) -> None:
        self._table.insert(session.id, session)

    def record_use(
        self,
        session_id: str,
        *,
        at: datetime,
        org_id: str | None,
        on_conflict: TenantryError | None = None,
    ) -> None:
        self._table.update(
            session_id,
            lambda session: replace(session, last_used_at=at, org_id=org_id),
            precondition=lambda session: session.revoked_at is None,
            code="session_revoked",
            on_conflict=on_conflict,
        )

    def set_epoch(self, session_id: str, epoch: int) -> None:
        self._table.update(session_id, lambda session: replace(session, epoch=epoch))

    def revoke(self, session_id: str, *, at: datetime, reason: str) -> None:
        def first_revocation(session: Session) -> Session:
            if session.revoked_at is not None:
                return session
            return replace(session, revoked_at=at, revoked_reason=reason)

        self._table.update(session_id, first_revocation)

    def list_live_for_user(
        self, user_id: str, *, now: datetime, min_epoch: int, limit: int, cursor: str | None
    ) -> Page[Session]:
        after = decode_cursor(cursor, kind=SESSIONS) if cursor is not None else None

        def listed(session: Session) -> bool:
            return (
                session.user_id == user_id
                and session.revoked_at is None
                and session.expires_at > now
                and session.epoch >= min_epoch
                and follows_newest_first(session_position(session), after)
            )

        # Two stable sorts: newest first, and among sessions begun together, by id.
        by_id = sorted(self._table.select(listed), key=lambda session: session.id)
        newest_first = sorted(by_id, key=lambda session: session.created_at, reverse=True)
        return page_of(newest_first, limit=limit, position=session_position, kind=SESSIONS)
