"""`LiveSessions`: what a check may take from memory, and when it must read the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tenantry.authorizer.feed import BOUND_SECONDS, KnownSession, LiveSessions
from tenantry.domain.model import Session

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def known(session_id: str = "ses_1", user_id: str = "usr_1") -> KnownSession:
    session = Session(
        id=session_id,
        user_id=user_id,
        org_id="org_1",
        created_at=NOW,
        last_used_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )
    return KnownSession(session, user_session_epoch=0)


def fed() -> tuple[LiveSessions, Monotonic]:
    clock = Monotonic()
    sessions = LiveSessions(monotonic=clock)
    sessions.heartbeat(clock.now)
    return sessions, clock


def test_without_a_heartbeat_nothing_is_vouched_for_or_remembered() -> None:
    sessions = LiveSessions(monotonic=Monotonic())

    generation = sessions.vouched()
    sessions.remember(known(), generation)

    assert generation is None
    assert sessions.get("ses_1", sessions.vouched()) is None


def test_a_session_remembered_under_a_fresh_heartbeat_is_found_until_the_bound() -> None:
    sessions, clock = fed()
    sessions.remember(known(), sessions.vouched())

    clock.now += BOUND_SECONDS * 0.9
    found = sessions.get("ses_1", sessions.vouched())
    clock.now += BOUND_SECONDS * 0.2  # the newest heartbeat is now older than the bound

    assert found == known()
    assert sessions.vouched() is None
    assert sessions.get("ses_1", sessions.vouched()) is None
    assert sessions.hits == 1


def test_a_session_read_before_a_change_is_not_remembered_after_it() -> None:
    sessions, _ = fed()
    generation = sessions.vouched()  # the check begins, then reads the store ...

    sessions.session_changed("ses_other")  # ... while some change's notification arrives
    sessions.remember(known(), generation)

    assert sessions.get("ses_1", sessions.vouched()) is None


def test_a_changed_session_and_a_changed_user_are_forgotten() -> None:
    sessions, _ = fed()
    for entry in (known("ses_1", "usr_1"), known("ses_2", "usr_1"), known("ses_3", "usr_2")):
        sessions.remember(entry, sessions.vouched())

    sessions.session_changed("ses_3")
    sessions.user_changed("usr_1")

    assert [sessions.get(s, sessions.vouched()) for s in ("ses_1", "ses_2", "ses_3")] == [
        None,
        None,
        None,
    ]


def test_a_lost_feed_forgets_everything_and_vouches_for_nothing_until_the_next_heartbeat() -> None:
    sessions, clock = fed()
    sessions.remember(known(), sessions.vouched())

    sessions.lost()
    vouched_while_lost = sessions.vouched()
    sessions.heartbeat(clock.now)

    assert vouched_while_lost is None
    assert sessions.get("ses_1", sessions.vouched()) is None


def test_memory_is_bounded_and_the_oldest_remembered_leaves_first() -> None:
    clock = Monotonic()
    sessions = LiveSessions(monotonic=clock, max_entries=2)
    sessions.heartbeat(clock.now)

    for session_id in ("ses_1", "ses_2", "ses_3"):
        sessions.remember(known(session_id), sessions.vouched())

    generation = sessions.vouched()
    assert sessions.get("ses_1", generation) is None
    assert sessions.get("ses_3", generation) == known("ses_3")
