"""Freshness across processes, measured: two real `tenantry serve` processes on one database.

Worker threads ask process B "may this member `site:publish`?" back to back, timing every
check, while access is taken away on process A. The bound documented in docs/authorizer.md
("Freshness") is one store read: every check reads the session and the organisation's
`authz_epoch`, and every access change bumps the epoch in its own transaction. A change's
answer leaves A after its commit, and a check reads the store after it starts, so the bound
added to the moment the answer arrived is 0 s. No check that started later may be allowed,
and no check asking for the change's epoch (`min_epoch`) ever is, before or after it.

One pair of servers per store (SQLite: one file) runs four races, each in an organisation
and with users of its own: a role unassigned, a role deleted, a member removed, a logout.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tenantry.accounts import service as accounts
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.runner import Runner
from tenantry.settings import Settings
from tests.harness import (
    PASSWORD,
    StoreTarget,
    audit_events,
    bearer,
    test_settings,
    unique_email,
    unique_slug,
)

PERMISSION = "site:publish"
EPOCH = "Tenantry-Authz-Epoch"
BOUND = 0.0  # seconds after the change's answer arrived: the documented bound (see above)
PLAIN_THREADS, FRESH_THREADS = 3, 3  # threads asking without and with `min_epoch`
ENOUGH = 30  # checks each hammer finishes before the change, and starts after its answer
MAX_CHECKS = 2_000  # per thread, so that a failed wait cannot leave a thread running long
WAIT_SECONDS = 20.0
STARTUP_SECONDS = 60.0
HTTP_TIMEOUT = 30.0  # above SQLite's 15 s busy timeout, so the server answers first
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
    environment = _environment(settings)
    with ExitStack() as stack:
        stack.callback(tenantry.close)
        a, b = (stack.enter_context(_serving(environment, tmp_path / name)) for name in "ab")
        yield Cluster(_ready(*a), _ready(*b), store_target, tenantry)


def _environment(settings: Settings) -> dict[str, str]:
    """This process's environment without TENANTRY_* from outside, plus what `settings` set
    (the suite's `test_settings`) as the variables a server reads, and the console mailer."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    values = {name: getattr(settings, name) for name in settings.model_fields_set}
    values["mailer"] = "console"
    given = {name: value for name, value in values.items() if value is not None}
    return inherited | {f"TENANTRY_{name.upper()}": _text(value) for name, value in given.items()}


def _text(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)  # a SecretStr
    return str(reveal() if reveal is not None else value)


Started = tuple[str, subprocess.Popen[bytes], Path]  # base URL, process, its log


@contextmanager
def _serving(environment: dict[str, str], folder: Path) -> Iterator[Started]:
    """`tenantry serve` in a child process of this interpreter, on a free loopback port."""
    folder.mkdir()
    port = _free_port()
    command = [sys.executable, "-m", "tenantry.cli", "serve", "--host", "127.0.0.1"]
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [*command, "--port", str(port)],
            env=environment,
            cwd=folder,  # no stray `.env`
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ready(base: str, process: subprocess.Popen[bytes], log: Path) -> str:
    # A real process starts in its own time: poll /readyz (the store answers) until it does.
    deadline = time.monotonic() + STARTUP_SECONDS
    with _client(base) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get("/readyz").status_code == 200:
                    return base
            except httpx2.TransportError:
                pass
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{base} did not get ready (exit code {process.poll()}):\n{tail}")


def _client(base: str) -> httpx2.Client:
    # trust_env=False: no proxy from the environment, the traffic stays on loopback.
    return httpx2.Client(base_url=base, timeout=HTTP_TIMEOUT, trust_env=False)


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
    owner_id = _operator_made_user(cluster.tenantry, owner_email)
    member_id = _operator_made_user(cluster.tenantry, member_email)
    with _client(cluster.a) as a:
        made = a.post(
            "/v1/organisations",
            json={"name": "Acme", "slug": unique_slug()},
            headers=bearer(_logged_in(a, owner_email)),
        )
        assert made.status_code == 201, made.text
        org_id = made.json()["id"]
        owner = _logged_in(a, owner_email, org_id)
        role = a.post(
            f"/v1/organisations/{org_id}/roles",
            json={"name": "Publisher", "permissions": ["site:*"]},
            headers=bearer(owner),
        )
        assert role.status_code == 201, role.text
        role_id = role.json()["id"]
        _add_membership(cluster.tenantry, org_id, member_id, member_email)
        path = f"/v1/organisations/{org_id}/members/{member_id}/roles/{role_id}"
        assigned = a.put(path, headers=bearer(owner))
        assert assigned.status_code == 200, assigned.text
        member = _logged_in(a, member_email, org_id)
    epoch = int(assigned.headers[EPOCH])
    return Scene(org_id, owner_id, owner, member_id, member, role_id, epoch)


def _operator_made_user(tenantry: Tenantry, email: str) -> str:
    # The use case `tenantry user create --verified` runs, without a process of its own.
    user = Runner(tenantry, principal=SYSTEM)(
        lambda uow: accounts.create_user(
            uow, tenantry.deps, SYSTEM, email=email, password=PASSWORD, name="Ops", verified=True
        )
    )
    return user.id


def _add_membership(tenantry: Tenantry, org_id: str, user_id: str, email: str) -> None:
    # As `tests.harness.Api.add_membership` does: invitations are not the subject here.
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        now = tenantry.clock.now()
        status = MembershipStatus.ACTIVE
        uow.memberships.add(
            Membership(org_id, user_id, OrgRole.MEMBER, status, now, email=email, name="Member")
        )
        uow.commit()


def _logged_in(client: httpx2.Client, email: str, org_id: str | None = None) -> str:
    body = {"email": email, "password": PASSWORD, "organisation_id": org_id}
    response = client.post("/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


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
            with _client(self._base) as client:
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

    def before(self, checks: list[Check]) -> list[str]:
        """The outcomes of checks answered before the change was sent."""
        return [c.outcome for c in checks if c.ended < self.sent]

    def after(self, checks: list[Check]) -> list[str]:
        """The outcomes of checks started after the change's answer (and the bound)."""
        return [c.outcome for c in checks if c.started > self.arrived + BOUND]


Change = Callable[[httpx2.Client], httpx2.Response]


def race(cluster: Cluster, scene: Scene, change: Change, *, min_epoch: int | None) -> Race:
    """Hammer B with the member's check (and, given `min_epoch`, with it as `min_epoch` too)
    until enough have been answered, make the change on A, and go on until enough checks
    started after its answer arrived."""
    question = {"organisation_id": scene.org_id, "permission": PERMISSION}
    plain = Hammer(cluster.b, scene.member, question, PLAIN_THREADS)
    with_epoch = {**question, "min_epoch": min_epoch}
    asks_epoch = min_epoch is not None
    fresh = Hammer(cluster.b, scene.member, with_epoch, FRESH_THREADS if asks_epoch else 0)
    hammers = [plain, fresh] if asks_epoch else [plain]
    with _client(cluster.a) as a, plain, fresh:
        for hammer in hammers:
            hammer.wait_for(ENOUGH)
        sent = time.monotonic()
        response = change(a)
        arrived = time.monotonic()
        for hammer in hammers:
            hammer.wait_for(ENOUGH, started_after=arrived + BOUND)
    return Race(plain.checks, fresh.checks, sent, arrived, response)


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
    return {c.body["epoch"] for c in race.plain if c.started > race.arrived + BOUND}


def denials(target: StoreTarget, org_id: str, user_id: str) -> list[tuple[str, str | None]]:
    events = audit_events(target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    return [(e.action, e.reason) for e in events if e.event_type is EventType.AUTHORIZATION]


# --- the races --------------------------------------------------------------------------------


def test_access_taken_away_on_process_a_is_refused_on_process_b_from_the_next_check(
    cluster: Cluster,
) -> None:
    # One test for all four, so that each store's pair of servers starts once.
    a_role_unassigned_on_a_is_refused_on_b(cluster)
    a_role_deleted_on_a_is_refused_on_b(cluster)
    a_member_removed_on_a_is_refused_on_b(cluster)
    a_session_logged_out_on_a_is_refused_on_b(cluster)


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


def a_session_logged_out_on_a_is_refused_on_b(cluster: Cluster) -> None:
    scene = a_member_who_may_publish(cluster)

    # A logout changes no epoch: the session itself is read on every check.
    raced = race(
        cluster,
        scene,
        lambda a: a.post("/v1/auth/logout", headers=bearer(scene.member)),
        min_epoch=None,
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


def assert_epoch_change_seen_at_once(
    cluster: Cluster, scene: Scene, raced: Race, reason: str
) -> None:
    """The change answered with the next epoch; B refused from the next check on, read at
    that epoch; asking for that epoch was never allowed; B put the first denial on record."""
    assert raced.change.status_code == 204, raced.change.text
    epoch = int(raced.change.headers[EPOCH])
    assert epoch == scene.epoch + 1
    assert_fresh(raced, reason)
    assert epochs_after(raced) == {epoch}
    assert_never_allowed_at(raced, epoch, reason)
    assert denials(cluster.target, scene.org_id, scene.member_id) == [(PERMISSION, reason)]
