"""Freshness across processes, measured: two real `tenantry serve` processes on one database.

Worker threads ask process B "may this member `site:publish`?" back to back, timing every
check, while access is taken away on process A. The bounds are those of docs/authorizer.md
("Freshness"). An access change bumps the organisation's `authz_epoch` in its own
transaction and every check reads that epoch: a change's answer leaves A after its commit,
and a check reads the store after it starts, so the bound added to the moment the answer
arrived is 0 s. A session's end (a logout, a password change) reaches B through the change
feed on PostgreSQL, within `BOUND_SECONDS`; on SQLite B reads the session on every check
(bound 0 s). No check that started later may be allowed, and no check asking for an access
change's epoch (`min_epoch`) ever is, before or after it.

One pair of servers per store (SQLite: one file) runs seven races, each in an organisation
and with users of its own: a role unassigned, edited and deleted, a member removed, the
organisation deleted, a logout, and a password changed on another device.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tenantry.authorizer.feed import BOUND_SECONDS
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.audit import EventType, Outcome
from tests.harness import (
    PASSWORD,
    StoreTarget,
    audit_events,
    bearer,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.servers import (
    HTTP_TIMEOUT,
    add_membership,
    environment,
    http_client,
    logged_in,
    operator_made_user,
    ready,
    serving,
)

PERMISSION = "site:publish"
EPOCH = "Tenantry-Authz-Epoch"
ACCESS_BOUND = 0.0  # seconds after an access change's answer arrived (see above)
PLAIN_THREADS, FRESH_THREADS = 3, 3  # threads asking without and with `min_epoch`
ENOUGH = 30  # checks each hammer finishes before the change, and starts after its answer
MAX_CHECKS = 2_000  # per thread, so that a failed wait cannot leave a thread running long
WAIT_SECONDS = 20.0
NOT_YET = "409 epoch_not_reached"


# --- the two processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """Processes A and B on one database, and a tenantry in this process on the same store
    for what the HTTP API does not offer (operator-made users, memberships without an
    invitation)."""

    a: str  # base URLs
    b: str
    target: StoreTarget
    tenantry: Tenantry


@pytest.fixture
def cluster(store_target: StoreTarget, tmp_path: Path) -> Iterator[Cluster]:
    """On SQLite, one file shared by both processes and this one."""
    settings = test_settings(store_target, tmp_path)
    tenantry = bootstrap(settings)
    # The signing keys exist before either server starts, so the two never race to make them.
    prepare_to_serve(tenantry)
    variables = environment(settings)
    with ExitStack() as stack:
        stack.callback(tenantry.close)
        a, b = (stack.enter_context(serving(variables, tmp_path / name)) for name in "ab")
        yield Cluster(ready(*a), ready(*b), store_target, tenantry)


# --- the scene: an owner and a member who may publish sites, set up on process A -------------


@dataclass(frozen=True)
class Scene:
    org_id: str
    owner_id: str
    owner: str  # access tokens for the organisation
    member_id: str
    member: str
    role_id: str
    epoch: int  # the organisation's authz epoch once the member holds the role

    def path(self, *rest: str) -> str:
        return "/".join([f"/v1/organisations/{self.org_id}", *rest])


def a_member_who_may_publish(cluster: Cluster) -> Scene:
    """An owner's organisation with a custom role `site:*` that the owner assigned to a
    member, over HTTP on process A; both users made by the operator, as `tenantry user
    create --verified` makes them."""
    owner_email, member_email = unique_email("owner"), unique_email("member")
    owner_id = operator_made_user(cluster.tenantry, owner_email)
    member_id = operator_made_user(cluster.tenantry, member_email)
    with http_client(cluster.a) as a:
        made = a.post(
            "/v1/organisations",
            json={"name": "Acme", "slug": unique_slug()},
            headers=bearer(logged_in(a, owner_email)),
        )
        assert made.status_code == 201, made.text
        org_id = made.json()["id"]
        owner = logged_in(a, owner_email, org_id)
        role = a.post(
            f"/v1/organisations/{org_id}/roles",
            json={"name": "Publisher", "permissions": ["site:*"]},
            headers=bearer(owner),
        )
        assert role.status_code == 201, role.text
        role_id = role.json()["id"]
        add_membership(cluster.tenantry, org_id, member_id, member_email)
        path = f"/v1/organisations/{org_id}/members/{member_id}/roles/{role_id}"
        assigned = a.put(path, headers=bearer(owner))
        assert assigned.status_code == 200, assigned.text
        member = logged_in(a, member_email, org_id)
    epoch = int(assigned.headers[EPOCH])
    return Scene(org_id, owner_id, owner, member_id, member, role_id, epoch)


# --- the hammer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    started: float  # time.monotonic() in this process, before the request was sent
    ended: float  # and once its answer was read
    status: int
    body: dict[str, Any]

    @property
    def outcome(self) -> str:
        """`allowed`, the reason of a denial, or the status and code of a refusal."""
        if self.status != 200:
            return f"{self.status} {self.body.get('code')}"
        return "allowed" if self.body["allowed"] else str(self.body["decisions"][0]["reason"])


class Hammer:
    """Threads asking process B the same question back to back, each with a client of its
    own; every check is kept with its times."""

    def __init__(self, base: str, token: str, question: dict[str, Any], threads: int) -> None:
        self.checks: list[Check] = []
        self._base, self._headers, self._question = base, bearer(token), question
        self._recorded = threading.Condition()
        self._stop = threading.Event()
        self._failures: list[BaseException] = []
        self._threads = [threading.Thread(target=self._ask, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(HTTP_TIMEOUT + 5)
        if failed is None:  # else the test's own failure is the one to see
            assert not self._failures, self._failures

    def wait_for(self, count: int, *, started_after: float = -math.inf) -> None:
        """Until `count` checks that started after `started_after` have been answered."""

        def done() -> bool:
            return bool(self._failures) or count <= sum(
                c.started > started_after for c in self.checks
            )

        with self._recorded:
            in_time = self._recorded.wait_for(done, timeout=WAIT_SECONDS)
        assert not self._failures, self._failures
        assert in_time, f"{len(self.checks)} checks in {WAIT_SECONDS} s, not {count} in time"

    def _ask(self) -> None:
        try:
            with http_client(self._base) as client:
                for _ in range(MAX_CHECKS):
                    if self._stop.is_set():
                        return
                    self._record(self._check(client))
        except BaseException as failure:  # handed to the test's thread, not lost in this one
            with self._recorded:
                self._failures.append(failure)
                self._recorded.notify_all()

    def _check(self, client: httpx2.Client) -> Check:
        started = time.monotonic()
        response = client.post("/v1/authorize", json=self._question, headers=self._headers)
        return Check(started, time.monotonic(), response.status_code, response.json())

    def _record(self, check: Check) -> None:
        with self._recorded:
            self.checks.append(check)
            self._recorded.notify_all()


@dataclass(frozen=True)
class Race:
    plain: list[Check]  # checks asked without `min_epoch`
    fresh: list[Check]  # and with it
    sent: float  # when the change was sent to A
    arrived: float  # when its answer arrived
    change: httpx2.Response
    bound: float  # seconds after `arrived` from which every check must see the change

    def before(self, checks: list[Check]) -> list[str]:
        """The outcomes of checks answered before the change was sent."""
        return [c.outcome for c in checks if c.ended < self.sent]

    def after(self, checks: list[Check]) -> list[str]:
        """The outcomes of checks started after the change's answer (and the bound)."""
        return [c.outcome for c in checks if c.started > self.arrived + self.bound]


Change = Callable[[httpx2.Client], httpx2.Response]


def race(
    cluster: Cluster,
    scene: Scene,
    change: Change,
    *,
    min_epoch: int | None,
    bound: float = ACCESS_BOUND,
    token: str | None = None,
) -> Race:
    """Hammer B with the member's check (and, given `min_epoch`, with it as `min_epoch` too)
    until enough have been answered, make the change on A, and go on until enough checks
    started after its answer arrived and the bound; `token` is the member's by default."""
    question = {"organisation_id": scene.org_id, "permission": PERMISSION}
    asking = token or scene.member
    plain = Hammer(cluster.b, asking, question, PLAIN_THREADS)
    with_epoch = {**question, "min_epoch": min_epoch}
    asks_epoch = min_epoch is not None
    fresh = Hammer(cluster.b, asking, with_epoch, FRESH_THREADS if asks_epoch else 0)
    hammers = [plain, fresh] if asks_epoch else [plain]
    with http_client(cluster.a) as a, plain, fresh:
        for hammer in hammers:
            hammer.wait_for(ENOUGH)
        sent = time.monotonic()
        response = change(a)
        arrived = time.monotonic()
        for hammer in hammers:
            hammer.wait_for(ENOUGH, started_after=arrived + bound)
    return Race(plain.checks, fresh.checks, sent, arrived, response, bound)


def assert_fresh(race: Race, reason: str) -> None:
    """Allowed until the change; `reason` for every check that started after its answer
    arrived; one or the other in between; and never allowed again once denied."""
    before, after = race.before(race.plain), race.after(race.plain)
    assert set(before) == {"allowed"}, Counter(before)
    assert len(before) >= ENOUGH
    assert set(after) == {reason}, Counter(after)
    assert len(after) >= ENOUGH
    assert {c.outcome for c in race.plain} <= {"allowed", reason}
    first_denied = min(c.ended for c in race.plain if c.outcome == reason)
    later = [c for c in race.plain + race.fresh if c.started > first_denied]
    assert "allowed" not in {c.outcome for c in later}


def assert_never_allowed_at(race: Race, epoch: int, reason: str) -> None:
    """With `min_epoch` = the change's epoch: 409 until the change committed, `reason` read
    at that epoch from then on, never allowed."""
    before, after = race.before(race.fresh), race.after(race.fresh)
    assert set(before) == {NOT_YET}, Counter(before)
    assert len(before) >= ENOUGH
    assert set(after) == {reason}, Counter(after)
    assert len(after) >= ENOUGH
    assert {c.outcome for c in race.fresh} <= {NOT_YET, reason}
    assert {c.body["epoch"] for c in race.fresh if c.status == 200} == {epoch}


def epochs_after(race: Race) -> set[int | None]:
    return {c.body["epoch"] for c in race.plain if c.started > race.arrived + race.bound}


def denials(target: StoreTarget, org_id: str, user_id: str) -> list[tuple[str, str | None]]:
    events = audit_events(target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    return [(e.action, e.reason) for e in events if e.event_type is EventType.AUTHORIZATION]


# --- the races --------------------------------------------------------------------------------


def test_access_taken_away_on_process_a_is_refused_on_process_b_from_the_next_check(
    cluster: Cluster,
) -> None:
    # One test for all four, so that each store's pair of servers starts once.
    a_role_unassigned_on_a_is_refused_on_b(cluster)
    a_role_edited_on_a_is_refused_on_b(cluster)
    a_role_deleted_on_a_is_refused_on_b(cluster)
    a_member_removed_on_a_is_refused_on_b(cluster)
    an_organisation_deleted_on_a_is_refused_on_b(cluster)
    a_session_logged_out_on_a_is_refused_on_b(cluster)
    a_password_changed_on_a_ends_other_sessions_on_b(cluster)


def session_bound(cluster: Cluster) -> float:
    """How long after a session ended B may still take it: the change feed's bound on
    PostgreSQL; on SQLite, B reads the session on every check."""
    return BOUND_SECONDS if cluster.target.name == "postgres" else 0.0


def a_role_unassigned_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)
    path = scene.path("members", scene.member_id, "roles", scene.role_id)

    raced = race(
        cluster,
        scene,
        lambda a: a.delete(path, headers=bearer(scene.owner)),
        min_epoch=scene.epoch + 1,
    )

    assert_epoch_change_seen_at_once(cluster, scene, raced, "no_matching_permission")
    events = audit_events(cluster.target, org_id=scene.org_id, action="role.unassign")
    assert [(e.actor_id, e.outcome, e.resource_id, e.details["role_id"]) for e in events] == [
        (scene.owner_id, Outcome.SUCCESS, scene.member_id, scene.role_id)
    ]


def a_role_edited_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)
    path = scene.path("roles", scene.role_id)

    raced = race(
        cluster,
        scene,
        lambda a: a.patch(path, json={"permissions": ["site:read"]}, headers=bearer(scene.owner)),
        min_epoch=scene.epoch + 1,
    )

    assert_epoch_change_seen_at_once(cluster, scene, raced, "no_matching_permission", ok=200)
    events = audit_events(cluster.target, org_id=scene.org_id, action="role.update")
    assert [(e.actor_id, e.outcome, e.resource_id) for e in events] == [
        (scene.owner_id, Outcome.SUCCESS, scene.role_id)
    ]


def a_role_deleted_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)
    path = scene.path("roles", scene.role_id)

    raced = race(
        cluster,
        scene,
        lambda a: a.delete(path, headers=bearer(scene.owner)),
        min_epoch=scene.epoch + 1,
    )

    assert_epoch_change_seen_at_once(cluster, scene, raced, "no_matching_permission")
    events = audit_events(cluster.target, org_id=scene.org_id, action="role.delete")
    assert [(e.actor_id, e.outcome, e.resource_id) for e in events] == [
        (scene.owner_id, Outcome.SUCCESS, scene.role_id)
    ]


def a_member_removed_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)
    path = scene.path("members", scene.member_id)

    raced = race(
        cluster,
        scene,
        lambda a: a.delete(path, headers=bearer(scene.owner)),
        min_epoch=scene.epoch + 1,
    )

    assert_epoch_change_seen_at_once(cluster, scene, raced, "membership_inactive")
    events = audit_events(cluster.target, org_id=scene.org_id, action="member.remove")
    assert [(e.actor_id, e.outcome, e.resource_id) for e in events] == [
        (scene.owner_id, Outcome.SUCCESS, scene.member_id)
    ]


def an_organisation_deleted_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)

    raced = race(
        cluster,
        scene,
        lambda a: a.delete(scene.path(), headers=bearer(scene.owner)),
        min_epoch=scene.epoch + 1,
    )

    assert raced.change.status_code in (200, 204), raced.change.text
    epoch = int(raced.change.headers[EPOCH])
    assert epoch == scene.epoch + 1
    assert_fresh(raced, "org_inactive")
    assert epochs_after(raced) == {epoch}
    assert_never_allowed_at(raced, epoch, "org_inactive")
    events = audit_events(cluster.target, org_id=scene.org_id, action="organisation.delete")
    assert [(e.actor_id, e.outcome) for e in events] == [(scene.owner_id, Outcome.SUCCESS)]
    assert denials(cluster.target, scene.org_id, scene.member_id) == [(PERMISSION, "org_inactive")]


def a_session_logged_out_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)

    # A logout changes no epoch: it ends the session, which B reads or hears of.
    raced = race(
        cluster,
        scene,
        lambda a: a.post("/v1/auth/logout", headers=bearer(scene.member)),
        min_epoch=None,
        bound=session_bound(cluster),
    )

    assert raced.change.status_code == 204, raced.change.text
    assert_fresh(raced, "token_revoked")
    events = audit_events(
        cluster.target, org_id=None, actor_id=scene.member_id, action="auth.logout"
    )
    assert [(e.outcome, e.resource_type) for e in events] == [(Outcome.SUCCESS, "session")]
    assert denials(cluster.target, scene.org_id, scene.member_id) == [
        (PERMISSION, "token_revoked")  # B's first; the rest of the minute counted, not written
    ]


def a_password_changed_on_a_ends_other_sessions_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)
    member_email = operator_email(cluster, scene.member_id)
    with http_client(cluster.a) as a:
        other_device = logged_in(a, member_email, scene.org_id)
    change = {"current_password": PASSWORD, "new_password": "a-new-long-passphrase-2026"}

    # The member's session epoch moves on: every session but the one changing it ends.
    raced = race(
        cluster,
        scene,
        lambda a: a.post("/v1/me/password", json=change, headers=bearer(scene.member)),
        min_epoch=None,
        bound=session_bound(cluster),
        token=other_device,
    )

    assert raced.change.status_code == 204, raced.change.text
    assert_fresh(raced, "token_revoked")
    events = audit_events(cluster.target, org_id=None, action="user.password_change")
    assert [(e.actor_id, e.outcome) for e in events] == [(scene.member_id, Outcome.SUCCESS)]


def operator_email(cluster: Cluster, user_id: str) -> str:
    with cluster.tenantry.store.unit_of_work() as uow:
        user = uow.users.get(user_id)
    assert user is not None
    return user.email


def assert_epoch_change_seen_at_once(
    cluster: Cluster, scene: Scene, raced: Race, reason: str, *, ok: int = 204
) -> None:
    """The change answered with the next epoch; B refused from the next check on, read at
    that epoch; asking for that epoch was never allowed; B put the first denial on record."""
    assert raced.change.status_code == ok, raced.change.text
    epoch = int(raced.change.headers[EPOCH])
    assert epoch == scene.epoch + 1
    assert_fresh(raced, reason)
    assert epochs_after(raced) == {epoch}
    assert_never_allowed_at(raced, epoch, reason)
    assert denials(cluster.target, scene.org_id, scene.member_id) == [(PERMISSION, reason)]
