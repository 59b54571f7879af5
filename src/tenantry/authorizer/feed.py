"""Live sessions remembered between checks, for as long as a change feed vouches for them.

A check needs the token's session to still hold: not revoked, not expired, not ended by a
password reset (the user's session epoch). Reading it costs two store reads a check, and a
session changes rarely, so a process remembers the sessions it found live and forgets one
when the store says it changed. The store says so through a change feed (PostgreSQL
`LISTEN/NOTIFY`, `store.sql.listen`), which also sends itself a heartbeat every fraction of a
second. Notifications arrive in commit order, so once a heartbeat sent at `s` has arrived,
every change committed before `s` has been applied here. A remembered session is used only
while the newest heartbeat was sent less than `BOUND_SECONDS` ago: a logout or a password
reset is seen by every process within that bound, however the feed fails. Without a feed
(SQLite, the memory store) nothing is vouched for and every check reads the store.

Access itself (roles, membership, the organisation) is not remembered here: the organisation's
`authz_epoch` is read on every check, so an access change is seen by the next check anywhere.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tenantry.domain.model import Session

BOUND_SECONDS = 1.0
MAX_SESSIONS = 20_000


@dataclass(frozen=True, slots=True)
class KnownSession:
    session: Session
    user_session_epoch: int  # the user's session epoch when the session was read

    def is_live(self, now: datetime) -> bool:
        return self.session.is_live(now, self.user_session_epoch)


class LiveSessions:
    """Sessions by id, each as read from the store, trusted only while the feed vouches.

    The feed side (`heartbeat`, `changed`, `lost`) is called from the listener's thread; the
    check side from request threads. A session read before a change but remembered after its
    notification was applied would be stale: `generation` counts forgettings, and a session
    is remembered only if none happened since the check began (`vouched()`).
    """

    def __init__(
        self,
        *,
        bound: float = BOUND_SECONDS,
        max_entries: int = MAX_SESSIONS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bound = bound
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, KnownSession] = OrderedDict()
        self._covered_at: float | None = None  # when the newest heartbeat received was sent
        self._generation = 0
        self._lock = threading.Lock()
        self.hits = 0  # checks answered without reading the session (not exact under threads)

    # --- the check's side -------------------------------------------------------------------

    def vouched(self) -> int | None:
        """The generation to remember under, if the feed vouches for what is remembered now;
        None if it does not (no feed, or its newest heartbeat is older than the bound)."""
        covered_at = self._covered_at
        if covered_at is None or self._monotonic() - covered_at >= self._bound:
            return None
        return self._generation

    def get(self, session_id: str, generation: int | None) -> KnownSession | None:
        if generation is None:
            return None
        found = self._entries.get(session_id)
        if found is not None:
            self.hits += 1
        return found

    def remembers(self, session_id: str) -> bool:
        """Whether the session is in memory, vouched for or not (only a notification or a
        lost feed takes it out; the bound only stops its use)."""
        return session_id in self._entries

    def remember(self, known: KnownSession, generation: int | None) -> None:
        if generation is None:
            return
        with self._lock:
            if generation != self._generation:
                return  # something was forgotten since the read: it may have been this
            self._entries[known.session.id] = known
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    # --- the feed's side --------------------------------------------------------------------

    def heartbeat(self, sent_at: float) -> None:
        """A heartbeat sent at `sent_at` (this process's monotonic clock) has arrived, after
        every change committed before it."""
        self._covered_at = sent_at

    def session_changed(self, session_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(session_id, None)

    def user_changed(self, user_id: str) -> None:
        """A password reset or a sign-out everywhere: the user's session epoch moved."""
        with self._lock:
            self._generation += 1
            for session_id in [k for k, v in self._entries.items() if v.session.user_id == user_id]:
                del self._entries[session_id]

    def lost(self) -> None:
        """The feed may have missed changes (it reconnected, or is about to): forget all, and
        vouch for nothing until the next heartbeat."""
        with self._lock:
            self._generation += 1
            self._covered_at = None
            self._entries.clear()
