"""The cap on a user's live sessions: a sign-in beyond `TENANTRY_MAX_SESSIONS_PER_USER`
revokes the oldest live session in the same unit of work, audited as `auth.session_evicted`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tenantry.domain.audit import AuditEvent, Outcome
from tenantry.domain.ids import new_id
from tenantry.domain.model import Session
from tenantry.sessions.service import MAX_EVICTIONS_PER_SIGN_IN
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    audit_events,
    bearer,
    build_tenantry,
    test_settings,
)
from tests.integration.account_checks import (
    assert_problem,
    audit_events_of,
    log_in_again,
    me,
    refresh,
    session_ids,
)
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [ON_EVERY_STORE, pytest.mark.smtp]

CAP = 3


@pytest.fixture
def capped(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """The API with at most `CAP` live sessions per user."""
    settings = test_settings(store_target, tmp_path, max_sessions_per_user=CAP)
    tenantry = build_tenantry(settings, clock, smtp_server)
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()


def devices(api: Api, clock: TestClock, count: int) -> list[Account]:
    """One user signed in on `count` devices, one second apart, oldest first."""
    first = api.verified_account()
    signed_in = [first]
    for _ in range(count - 1):
        clock.advance(seconds=1)
        signed_in.append(log_in_again(api, first))
    return signed_in


def current_session(api: Api, account: Account) -> str:
    [current] = [sid for sid, is_current in session_ids(api, account).items() if is_current]
    return current


def stored_session(api: Api, user_id: str, session_id: str) -> Session:
    """The session as the store holds it, read through tenantry's own repository."""
    with api.tenantry.store.unit_of_work(user_id=user_id) as uow:
        found = uow.sessions.get(session_id)
    assert found is not None
    return found


def evictions(target: StoreTarget, user_id: str) -> list[AuditEvent]:
    return audit_events(target, org_id=None, actor_id=user_id, action="auth.session_evicted")


def test_a_sign_in_beyond_the_cap_revokes_the_oldest_session(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    oldest, *others = devices(capped, clock, CAP)
    oldest_session = current_session(capped, oldest)
    clock.advance(seconds=1)

    signed_in = capped.login(oldest.email)

    assert signed_in.status_code == 200, signed_in.text
    row = stored_session(capped, oldest.user_id, oldest_session)
    assert (row.revoked_at, row.revoked_reason) == (clock.now(), "evicted")
    assert_problem(refresh(capped, oldest.refresh_token), 401, "session_ended")
    assert_problem(me(capped, oldest.access_token), 401, "token_revoked")
    assert all(me(capped, device.access_token).status_code == 200 for device in others)
    assert len(session_ids(capped, others[0])) == CAP
    [evicted] = audit_events_of(store_target, signed_in, action="auth.session_evicted")
    assert (evicted.outcome, evicted.actor_id, evicted.reason) == (
        Outcome.SUCCESS,
        oldest.user_id,
        "session_limit",
    )
    assert (evicted.resource_type, evicted.resource_id) == ("session", oldest_session)
    assert evicted.details == {"session_id": oldest_session, "limit": CAP}


def test_each_further_sign_in_evicts_exactly_one_session_the_oldest_left(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    signed_in = devices(capped, clock, CAP)
    begun = [current_session(capped, device) for device in signed_in]
    for _ in range(2):
        clock.advance(seconds=1)
        assert capped.login(signed_in[0].email).status_code == 200

    evicted = evictions(store_target, signed_in[0].user_id)

    assert sorted(event.details["session_id"] for event in evicted) == sorted(begun[:2])
    assert stored_session(capped, signed_in[0].user_id, begun[2]).revoked_at is None


def test_sessions_that_ended_by_epoch_are_not_counted_or_evicted(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    signed_in = devices(capped, clock, CAP)
    everywhere = capped.client.delete("/v1/me/sessions", headers=signed_in[0].auth)
    assert everywhere.status_code == 204, everywhere.text

    for _ in range(CAP):
        clock.advance(seconds=1)
        assert capped.login(signed_in[0].email).status_code == 200

    assert evictions(store_target, signed_in[0].user_id) == []


def test_sessions_over_a_lowered_cap_are_evicted_oldest_first_a_bounded_number_at_a_time(
    capped: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    account = capped.verified_account()  # one session, plus many begun under a higher cap
    kept_over = 5
    begun_earlier = [
        _session(account.user_id, clock.now() - timedelta(minutes=n))
        for n in range(CAP - 1 + MAX_EVICTIONS_PER_SIGN_IN + kept_over, 0, -1)
    ]
    with capped.tenantry.store.unit_of_work(user_id=account.user_id) as uow:
        for session in begun_earlier:
            uow.sessions.add(session)
        uow.commit()
    clock.advance(seconds=1)

    first = capped.login(account.email)
    after_first = {
        event.details["session_id"] for event in evictions(store_target, account.user_id)
    }
    clock.advance(seconds=1)
    second = capped.login(account.email)

    assert (first.status_code, second.status_code) == (200, 200)
    # The oldest first, and no more than the bound in one sign-in.
    assert after_first == {session.id for session in begun_earlier[:MAX_EVICTIONS_PER_SIGN_IN]}
    evicted = evictions(store_target, account.user_id)
    assert len(evicted) == MAX_EVICTIONS_PER_SIGN_IN + kept_over + 2
    listed = capped.client.get("/v1/me/sessions", headers=bearer(second.json()["access_token"]))
    assert len(listed.json()["items"]) == CAP


def _session(user_id: str, begun: datetime) -> Session:
    return Session(
        id=new_id("ses"),
        user_id=user_id,
        created_at=begun,
        last_used_at=begun,
        expires_at=begun + timedelta(days=1),
    )
