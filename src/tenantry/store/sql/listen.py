"""PostgreSQL's change feed: `LISTEN` on the notifications the triggers of migration 0006
send when a session or a user's session epoch changes, with a heartbeat that proves how far
behind the feed can be (see `tenantry.authorizer.feed`).

One thread and one connection per process, outside the pool. The heartbeat is a
notification this listener sends itself on a channel of its own; PostgreSQL delivers the
notifications of committed transactions in commit order, so the arrival of a heartbeat says
that every change committed before it was sent has arrived too.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Protocol

import psycopg
import sqlalchemy as sa
import structlog

CHANNEL = "tenantry_changes"
HEARTBEAT_SECONDS = 0.2
RECONNECT_SECONDS = 0.5  # the first wait after a lost connection, doubling up to the max
MAX_RECONNECT_SECONDS = 5.0
APPLICATION_NAME = "tenantry-change-feed"

log = structlog.get_logger()


class ChangeSink(Protocol):
    """What the feed tells (`tenantry.authorizer.feed.LiveSessions`)."""

    def heartbeat(self, sent_at: float) -> None: ...
    def session_changed(self, session_id: str) -> None: ...
    def user_changed(self, user_id: str) -> None: ...
    def lost(self) -> None: ...


class PostgresChangeListener:
    def __init__(self, url: str, sink: ChangeSink) -> None:
        self._dsn = (
            sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._sink = sink
        suffix = secrets.token_hex(8)
        self._beat_channel = f"tenantry_beat_{suffix}"
        # The name the connection goes by in `pg_stat_activity`, one per listener.
        self.application_name = f"{APPLICATION_NAME}-{suffix}"
        self._heard = False  # whether the connection last lost had got as far as listening
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=APPLICATION_NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = RECONNECT_SECONDS
        while not self._stopping.is_set():
            try:
                self._listen()
            except (psycopg.Error, OSError) as error:
                log.warning("the change feed lost its connection", error=str(error), retry_in=wait)
            self._sink.lost()
            self._stopping.wait(wait)
            wait = RECONNECT_SECONDS if self._heard else min(wait * 2, MAX_RECONNECT_SECONDS)
            self._heard = False

    def _listen(self) -> None:
        with psycopg.connect(
            self._dsn,
            autocommit=True,
            application_name=self.application_name,
            connect_timeout=5,
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            connection.execute(f"LISTEN {self._beat_channel}")
            # Whatever was remembered before this LISTEN may have missed a notification.
            self._sink.lost()
            self._heard = True
            while not self._stopping.is_set():
                sent_at = time.monotonic()
                connection.execute("SELECT pg_notify(%s, %s)", (self._beat_channel, repr(sent_at)))
                for notice in connection.notifies(timeout=HEARTBEAT_SECONDS):
                    self._apply(notice.channel, notice.payload)

    def _apply(self, channel: str, payload: str) -> None:
        if channel == self._beat_channel:
            self._sink.heartbeat(float(payload))
            return
        kind, _, ident = payload.partition(":")
        if kind == "s":
            self._sink.session_changed(ident)
        elif kind == "u":
            self._sink.user_changed(ident)
