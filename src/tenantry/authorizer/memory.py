"""What one process remembers between checks: compiled snapshots, live sessions (`feed.py`),
and the denials it has put on record lately. All are per process and bounded; none is ever
the truth about access.

Why written here: a decision cache must be invalidated by the organisation's `authz_epoch`
(read fresh with the bearer check on every request), which no general-purpose cache knows
how to do, and the denial log needs the injected clock, which `limits` cannot take.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenantry.authorizer.feed import LiveSessions
from tenantry.domain.decision import CompiledAccess
from tenantry.store.open import Listening

MAX_SNAPSHOTS = 10_000
DENIAL_WINDOW = timedelta(minutes=1)
MAX_DENIAL_KEYS = 10_000


class SnapshotCache:
    """Compiled snapshots by (organisation, user), each good for the epoch it was read at; at
    most `max_entries`, the oldest written leaving first.

    A hit needs the epoch the caller just read from the store: a change anywhere bumps the
    epoch in its own transaction, so a cached snapshot is never used past a change.
    """

    def __init__(self, max_entries: int = MAX_SNAPSHOTS) -> None:
        self._entries: OrderedDict[tuple[str, str], CompiledAccess] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, org_id: str, user_id: str, epoch: int) -> CompiledAccess | None:
        # A read takes no lock: one dict lookup is atomic, and the hot path is all reads.
        # Eviction is then oldest-written first rather than least-recently-used.
        found = self._entries.get((org_id, user_id))
        if found is None or found.snapshot.epoch != epoch:
            return None
        return found

    def put(self, compiled: CompiledAccess) -> None:
        key = (compiled.snapshot.org_id, compiled.snapshot.user_id)
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = compiled
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


@dataclass
class _Window:
    started: datetime
    suppressed: int = 0


class DenialLog:
    """At most one DENIED event per (organisation, user, permission) a minute, so a client in
    a hot loop cannot flood the audit log; the next event recorded says how many were not."""

    def __init__(self, window: timedelta = DENIAL_WINDOW, max_keys: int = MAX_DENIAL_KEYS) -> None:
        self._windows: OrderedDict[tuple[str, str, str], _Window] = OrderedDict()
        self._window = window
        self._max = max_keys
        self._lock = threading.Lock()

    def admit(self, org_id: str, user_id: str, permission: str, now: datetime) -> int | None:
        """None if this denial is not to be recorded; else how many of the same were not
        recorded before it."""
        key = (org_id, user_id, permission)
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self._window:
                window.suppressed += 1
                return None
            self._windows[key] = _Window(now)
            self._windows.move_to_end(key)
            while len(self._windows) > self._max:
                self._windows.popitem(last=False)
            return window.suppressed if window is not None else 0


Listen = Callable[[LiveSessions], Listening | None]


class AuthorizerMemory:
    """The per-process state of the authorizer, built once by `bootstrap`. `listen` starts
    the store's change feed; it runs on the first check, so a process that never checks
    (the CLI, most tests) opens no feed."""

    def __init__(self, listen: Listen | None = None) -> None:
        self.snapshots = SnapshotCache()
        self.denials = DenialLog()
        self.sessions = LiveSessions()
        self._listen = listen
        self._listening: Listening | None = None
        self._lock = threading.Lock()

    def ensure_listening(self) -> None:
        listen = self._listen
        if listen is None:
            return
        with self._lock:
            if self._listen is not None:
                self._listening = self._listen(self.sessions)
                self._listen = None

    @property
    def listening(self) -> Listening | None:
        """The change feed, once the first check started it (None if the store has none)."""
        return self._listening

    def close(self) -> None:
        with self._lock:
            self._listen = None
            listening, self._listening = self._listening, None
        if listening is not None:
            listening.stop()
