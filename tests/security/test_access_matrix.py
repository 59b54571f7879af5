"""The role-by-route matrix (issue 7): every org-scoped route, called by every kind of caller,
answers as the table below says.

A caller the route allows gets its 2xx. A member lacking the permission gets 403
`permission_denied`, audited DENIED `missing_permission` in the organisation. Anyone outside
the organisation (its former member, the other organisation's OWNER) gets 404
`organisation_not_found`, audited DENIED `other_organisation` in their own organisation and
never in this one; a token issued before its membership ended is 401 `token_revoked`. Every
refusal leaves the organisation exactly as it was.

The routes come from the live OpenAPI document: a new org-scoped route without a row here
fails `test_every_org_scoped_route_has_a_row_in_the_matrix`.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import AuditEvent, Outcome
from tenantry.domain.model import Organisation
from tenantry.domain.roles import OrgRole
from tenantry.http.app import create_app
from tenantry.unit_of_work import UnitOfWork
from tests.access_builders import (
    add_to_team,
    assign,
    joined,
    made_role,
    made_team,
    remove_member,
)
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.smtp_server import SmtpServer

ORG = "/v1/organisations/{org_id}"


class Caller(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    CUSTOM = "CUSTOM"  # an org MEMBER also holding the custom role `team:*`, `role:read`
    LEAD = "LEAD"  # an org MEMBER who is LEAD of the team in the path
    LEAD_ELSEWHERE = "LEAD_ELSEWHERE"  # an org MEMBER who is LEAD of another team
    FORMER = "FORMER"  # removed from the organisation; its token is for another one
    REVOKED = "REVOKED"  # the same former member's token issued before the removal
    OTHER = "OTHER"  # the other organisation's OWNER


COLUMNS = tuple(Caller)

# The expected status per route (under /v1/organisations/{org_id}) and caller, the columns in
# `Caller` order: OWNER, ADMIN, MEMBER, CUSTOM, LEAD, LEAD_ELSEWHERE, FORMER, REVOKED, OTHER.
# 2xx: allowed; 403: missing the permission; 404: outside the organisation; 401: the token no
# longer works.
# fmt: off
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    #                                                  OWNR ADMN MEMB CUST LEAD ELSE FORM REVK OTHR
    ("GET",    ""):                                   (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("PATCH",  ""):                                   (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("DELETE", ""):                                   (204, 403, 403, 403, 403, 403, 404, 401, 404),
    ("POST",   "/provisioning/retry"):                (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("POST",   "/transfer-ownership"):                (200, 403, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/members"):                           (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("PATCH",  "/members/{user_id}"):                 (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("DELETE", "/members/{user_id}"):                 (204, 204, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/members/{user_id}/permissions"):     (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("PUT",    "/members/{user_id}/roles/{role_id}"): (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("DELETE", "/members/{user_id}/roles/{role_id}"): (204, 204, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/roles"):                             (200, 200, 403, 200, 403, 403, 404, 401, 404),
    ("POST",   "/roles"):                             (201, 201, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/roles/{role_id}"):                   (200, 200, 403, 200, 403, 403, 404, 401, 404),
    ("PATCH",  "/roles/{role_id}"):                   (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("DELETE", "/roles/{role_id}"):                   (204, 204, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/teams"):                             (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("POST",   "/teams"):                             (201, 201, 403, 201, 403, 403, 404, 401, 404),
    ("GET",    "/teams/{team_id}"):                   (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("PATCH",  "/teams/{team_id}"):                   (200, 200, 403, 200, 403, 403, 404, 401, 404),
    ("DELETE", "/teams/{team_id}"):                   (204, 204, 403, 204, 403, 403, 404, 401, 404),
    ("GET",    "/teams/{team_id}/members"):           (200, 200, 200, 200, 200, 200, 404, 401, 404),
    ("POST",   "/teams/{team_id}/members"):           (201, 201, 403, 201, 201, 403, 404, 401, 404),
    ("PATCH",  "/teams/{team_id}/members/{user_id}"): (200, 200, 403, 200, 200, 403, 404, 401, 404),
    ("DELETE", "/teams/{team_id}/members/{user_id}"): (204, 204, 403, 204, 204, 403, 404, 401, 404),
    ("GET",    "/audit-events"):                      (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/audit-events/export"):               (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/audit-events/verify"):               (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/audit-events/{event_id}"):           (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/invitations"):                       (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("POST",   "/invitations"):                       (201, 201, 403, 403, 403, 403, 404, 401, 404),
    ("POST",   "/invitations/bulk"):                  (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("GET",    "/invitations/{invitation_id}"):       (200, 200, 403, 403, 403, 403, 404, 401, 404),
    ("POST",   "/invitations/{invitation_id}/resend"): (200, 200, 403, 403, 403, 403, 404, 401, 404),  # noqa: E501
    ("DELETE", "/invitations/{invitation_id}"):       (200, 200, 403, 403, 403, 403, 404, 401, 404),
}
# fmt: on

# The callers of one route run in this order. A refusal changes nothing (each cell asserts
# it), and after a success the objects the route acts on are built anew; but the OWNER's
# successes (deleting the organisation, handing it over) change the callers' world, so the
# OWNER goes last.
RUN_ORDER = (
    Caller.OTHER,
    Caller.REVOKED,
    Caller.FORMER,
    Caller.MEMBER,
    Caller.LEAD_ELSEWHERE,
    Caller.LEAD,
    Caller.CUSTOM,
    Caller.ADMIN,
    Caller.OWNER,
)


# --- the objects one caller acts on ----------------------------------------------------------


def _name(label: str) -> str:
    return f"{label} {secrets.token_hex(4)}"


@dataclass
class Scene:
    """What the path and body of one cell name, built by the OWNER on first use: the team
    (the LEAD caller leads it), a custom role, the target member (holding the role, a MEMBER
    of the team) and a newcomer (a plain member). A success may destroy them; the next caller
    gets a new scene."""

    world: World
    _team_id: str | None = None
    _role_id: str | None = None
    _target: str | None = None
    _newcomer: str | None = None
    _invitation_id: str | None = None

    @property
    def team_id(self) -> str:
        if self._team_id is None:
            world = self.world
            self._team_id = made_team(world.api, world.owner, _name("Team"))
            led = add_to_team(world.api, world.owner, self._team_id, world.lead_id, "LEAD")
            assert led.status_code == 201, led.text
        return self._team_id

    @property
    def role_id(self) -> str:
        if self._role_id is None:
            self._role_id = made_role(
                self.world.api, self.world.owner, _name("Reader"), ["team:read"]
            )
        return self._role_id

    @property
    def target(self) -> str:
        if self._target is None:
            api, owner = self.world.api, self.world.owner
            user_id = api.member_of(self.world.org_id).user_id
            assigned = assign(api, owner, user_id, self.role_id)
            assert assigned.status_code == 200, assigned.text
            added = add_to_team(api, owner, self.team_id, user_id)
            assert added.status_code == 201, added.text
            self._target = user_id
        return self._target

    @property
    def newcomer(self) -> str:
        if self._newcomer is None:
            self._newcomer = self.world.api.member_of(self.world.org_id).user_id
        return self._newcomer

    @property
    def event_id(self) -> str:
        """The organisation's newest audit event, as its OWNER reads it."""
        path = f"/v1/organisations/{self.world.org_id}/audit-events?limit=1"
        listed = self.world.api.client.get(path, headers=self.world.owner.auth)
        assert listed.status_code == 200, listed.text
        event_id: str = listed.json()["items"][0]["event_id"]
        return event_id

    @property
    def invitation_id(self) -> str:
        """A pending invitation the OWNER made (a success may revoke it)."""
        if self._invitation_id is None:
            path = f"/v1/organisations/{self.world.org_id}/invitations"
            body = {"email": unique_email("invited")}
            made = self.world.api.client.post(path, json=body, headers=self.world.owner.auth)
            assert made.status_code == 201, made.text
            self._invitation_id = made.json()["id"]
        return self._invitation_id

    def built(self) -> tuple[str | None, str | None, list[str]]:
        users = [u for u in (self._target, self._newcomer) if u is not None]
        return self._team_id, self._role_id, users


@dataclass
class World:
    """Organisation A with one account per caller, and the other organisation B."""

    api: Api
    org_id: str
    other_org_id: str
    callers: dict[Caller, Account]
    scene: Scene = field(init=False)
    trail: Trail | None = None

    def __post_init__(self) -> None:
        self.scene = Scene(self)

    @property
    def owner(self) -> Account:
        return self.callers[Caller.OWNER]

    @property
    def lead_id(self) -> str:
        return self.callers[Caller.LEAD].user_id

    def home_of(self, caller: Caller) -> str | None:
        """The organisation the caller's token is for."""
        return self.callers[caller].org_id


def build_world(api: Api, slug: str) -> World:
    owner, org = api.owner_with_org(slug)
    org_id = org["id"]
    other_owner, other = api.owner_with_org()
    custom = api.member_of(org_id)
    team_manager = made_role(api, owner, "Team manager", ["team:*", "role:read"])
    assert assign(api, owner, custom.user_id, team_manager).status_code == 200
    lead_elsewhere = api.member_of(org_id)
    elsewhere_team = made_team(api, owner, "Elsewhere")
    led = add_to_team(api, owner, elsewhere_team, lead_elsewhere.user_id, "LEAD")
    assert led.status_code == 201, led.text
    former = api.member_of(org_id)
    in_other_org = joined(api, former, other["id"])
    assert remove_member(api, owner, former.user_id).status_code == 204
    callers = {
        Caller.OWNER: owner,
        Caller.ADMIN: api.member_of(org_id, OrgRole.ADMIN),
        Caller.MEMBER: api.member_of(org_id),
        Caller.CUSTOM: custom,
        Caller.LEAD: api.member_of(org_id),
        Caller.LEAD_ELSEWHERE: lead_elsewhere,
        Caller.FORMER: in_other_org,
        Caller.REVOKED: former,
        Caller.OTHER: other_owner,
    }
    return World(api, org_id, other["id"], callers)


# --- how each route is called ------------------------------------------------------------------

Body = Callable[[Scene], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    permission: str  # what a refusal is audited as
    resource: str = "org_id"  # the path parameter naming the audited resource
    body: Body | None = None
    user: Callable[[Scene], str] = lambda scene: scene.target  # who {user_id} is


CALLS: dict[tuple[str, str], Call] = {
    ("GET", ""): Call("organisation:read"),
    ("PATCH", ""): Call("organisation:update", body=lambda s: {"name": _name("Renamed")}),
    ("DELETE", ""): Call("organisation:delete"),
    ("POST", "/provisioning/retry"): Call("organisation:update"),
    ("POST", "/transfer-ownership"): Call(
        "organisation:transfer", body=lambda s: {"user_id": s.newcomer}
    ),
    ("GET", "/members"): Call("member:read"),
    ("PATCH", "/members/{user_id}"): Call(
        "member:update", "user_id", body=lambda s: {"org_role": "ADMIN"}
    ),
    ("DELETE", "/members/{user_id}"): Call("member:remove", "user_id"),
    ("GET", "/members/{user_id}/permissions"): Call("member:read", "user_id"),
    # The newcomer does not hold the role yet: assigning it is a change.
    ("PUT", "/members/{user_id}/roles/{role_id}"): Call(
        "role:assign", "user_id", user=lambda s: s.newcomer
    ),
    ("DELETE", "/members/{user_id}/roles/{role_id}"): Call("role:assign", "user_id"),
    ("GET", "/roles"): Call("role:read"),
    ("POST", "/roles"): Call(
        "role:create", body=lambda s: {"name": _name("Role"), "permissions": ["team:read"]}
    ),
    ("GET", "/roles/{role_id}"): Call("role:read", "role_id"),
    ("PATCH", "/roles/{role_id}"): Call(
        "role:update", "role_id", body=lambda s: {"permissions": ["team:read", "member:read"]}
    ),
    ("DELETE", "/roles/{role_id}"): Call("role:delete", "role_id"),
    ("GET", "/teams"): Call("team:read"),
    ("POST", "/teams"): Call("team:create", body=lambda s: {"name": _name("Team")}),
    ("GET", "/teams/{team_id}"): Call("team:read", "team_id"),
    ("PATCH", "/teams/{team_id}"): Call(
        "team:update", "team_id", body=lambda s: {"name": _name("Renamed team")}
    ),
    ("DELETE", "/teams/{team_id}"): Call("team:delete", "team_id"),
    ("GET", "/teams/{team_id}/members"): Call("team:read", "team_id"),
    ("POST", "/teams/{team_id}/members"): Call(
        "team:member:add",
        "team_id",
        body=lambda s: {"user_id": s.newcomer, "team_role": "MEMBER"},
    ),
    ("PATCH", "/teams/{team_id}/members/{user_id}"): Call(
        "team:member:add", "team_id", body=lambda s: {"team_role": "LEAD"}
    ),
    ("DELETE", "/teams/{team_id}/members/{user_id}"): Call("team:member:remove", "team_id"),
    ("GET", "/audit-events"): Call("audit:read"),
    ("GET", "/audit-events/export"): Call("audit:read"),
    ("GET", "/audit-events/verify"): Call("audit:read"),
    ("GET", "/audit-events/{event_id}"): Call("audit:read", "event_id"),
    ("GET", "/invitations"): Call("invitation:read"),
    ("POST", "/invitations"): Call(
        "invitation:create", body=lambda s: {"email": unique_email("matrix")}
    ),
    ("POST", "/invitations/bulk"): Call(
        "invitation:create", body=lambda s: {"invitations": [{"email": unique_email("bulk")}]}
    ),
    ("GET", "/invitations/{invitation_id}"): Call("invitation:read", "invitation_id"),
    ("POST", "/invitations/{invitation_id}/resend"): Call("invitation:create", "invitation_id"),
    ("DELETE", "/invitations/{invitation_id}"): Call("invitation:revoke", "invitation_id"),
}


def path_ids(path: str, call: Call, world: World) -> dict[str, str]:
    """The values of the path's parameters, built as the path needs them."""
    wanted = {name for _, name, _, _ in string.Formatter().parse(path) if name}
    scene = world.scene
    builders: dict[str, Callable[[], str]] = {
        "org_id": lambda: world.org_id,
        "user_id": lambda: call.user(scene),
        "role_id": lambda: scene.role_id,
        "team_id": lambda: scene.team_id,
        "event_id": lambda: scene.event_id,
        "invitation_id": lambda: scene.invitation_id,
    }
    return {name: builders[name]() for name in sorted(wanted)}


# --- what a cell observes -------------------------------------------------------------------

EventKey = tuple[str | None, str | None, str, Outcome, str | None, str | None]


def event_key(event: AuditEvent) -> EventKey:
    return (
        event.org_id,
        event.actor_id,
        event.action,
        event.outcome,
        event.reason,
        event.resource_id,
    )


class Trail:
    """Both organisations' audit chains, read on from where the last read ended."""

    def __init__(self, store_target: StoreTarget, world: World) -> None:
        self.store_target = store_target
        self.ends: dict[str, int | None] = dict.fromkeys((world.org_id, world.other_org_id))
        self.recorded()

    def recorded(self) -> list[AuditEvent]:
        """The events both organisations recorded since the last call."""
        found = []
        for org_id, end in self.ends.items():
            events = audit_events(self.store_target, org_id=org_id, after_seq=end)
            self.ends[org_id] = events[-1].seq if events else end
            found += events
        return found


def stored_state(tenantry: Tenantry, world: World) -> tuple[Any, ...]:
    """What a refusal must leave as it was: the organisation (its authz epoch with it), every
    caller's and scene member's membership and roles, and the scene's team, members and role,
    read in one unit of work."""
    org_id = world.org_id
    team_id, role_id, users = world.scene.built()
    user_ids = [account.user_id for account in world.callers.values()] + users
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return (
            uow.organisations.get(org_id),
            [uow.memberships.get(org_id, user_id) for user_id in user_ids],
            [uow.role_assignments.list_for_member(org_id, user_id) for user_id in user_ids],
            team_id and uow.teams.get(org_id, team_id),
            team_id and uow.team_memberships.all_for_team(org_id, team_id),
            role_id and uow.roles.get(org_id, role_id),
        )


def expected_events(
    world: World, caller: Caller, call: Call, status: int, resource_id: str
) -> list[EventKey]:
    """The one event a refusal records, and where."""
    actor = world.callers[caller].user_id
    if status == 401:
        return [(world.org_id, actor, "auth.token", Outcome.FAILURE, "membership_ended", actor)]
    where: str | None = world.org_id
    reason = "missing_permission"
    if status == 404:  # in the organisation the caller's token is for, never in this one
        where, reason = world.home_of(caller), "other_organisation"
    return [(where, actor, call.permission, Outcome.DENIED, reason, resource_id)]


REFUSAL_CODES = {
    401: "token_revoked",
    403: "permission_denied",
    404: "organisation_not_found",
}


def check_cell(
    api: Api,
    store_target: StoreTarget,
    world: World,
    route: tuple[str, str],
    caller: Caller,
    expected: int,
) -> None:
    method, suffix = route
    call = CALLS[route]
    path = ORG + suffix
    ids = path_ids(path, call, world)
    body = call.body(world.scene) if call.body else None
    state_before = stored_state(api.tenantry, world)
    if world.trail is None:
        world.trail = Trail(store_target, world)
    trail = world.trail
    trail.recorded()  # what the cells before this one recorded

    response = api.client.request(
        method, path.format(**ids), json=body, headers=world.callers[caller].auth
    )

    if 200 <= response.status_code < 300:
        world.scene = Scene(world)  # the objects it acted on may be gone
    assert response.status_code == expected, f"{response.status_code}, {response.text}"
    if 200 <= expected < 300:
        return
    assert response.json()["code"] == REFUSAL_CODES[expected], response.text
    recorded = [event_key(event) for event in trail.recorded()]
    audited = expected_events(world, caller, call, expected, ids[call.resource])
    assert recorded == audited, f"audited {recorded}, expected {audited}"
    assert stored_state(api.tenantry, world) == state_before, "the refusal changed something"


# --- fixtures: an organisation whose provisioning failed, for the retry route -------------------


class ProvisioningDown(Exception):
    pass


class FailsForChosenSlugs:
    """A provisioning step (as a product plugs one in) that fails for the organisations the
    test names: the retry route is only allowed on an organisation whose provisioning
    failed, and a retry of this one fails again, so every caller meets it FAILED."""

    name = "matrix_step"

    def __init__(self) -> None:
        self.slugs: set[str] = set()

    def run(self, uow: UnitOfWork, org: Organisation) -> None:
        if org.slug in self.slugs:
            raise ProvisioningDown(org.slug)

    def compensate(self, uow: UnitOfWork, org: Organisation) -> None:
        """Nothing to undo: the step changed nothing."""


@pytest.fixture
def provisioning_step() -> FailsForChosenSlugs:
    return FailsForChosenSlugs()


@pytest.fixture
def tenantry(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    provisioning_step: FailsForChosenSlugs,
) -> Iterator[Tenantry]:
    # One world signs up more people from the harness's one address than a client may.
    settings = test_settings(store_target, tmp_path, mail_requests_per_ip=10_000)
    app = build_tenantry(
        settings,
        clock,
        smtp_server,
        provisioning_steps=[provisioning_step],
    )
    yield app
    app.close()


# --- the tests ---------------------------------------------------------------------------------


# The routes whose successes change the callers' world (the OWNER deletes the organisation or
# hands it over), or that need an organisation whose provisioning failed, each get a world of
# their own. Every other route's successes act on the scene alone (rebuilt after each), so
# they share one world: building it is most of the cost.
OWN_WORLD = {("DELETE", ""), ("POST", "/transfer-ownership"), ("POST", "/provisioning/retry")}
SHARED_WORLD = sorted(set(MATRIX) - OWN_WORLD)


def wrong_cells(
    api: Api, store_target: StoreTarget, world: World, route: tuple[str, str]
) -> list[str]:
    """Every cell of the route's row that does not answer as the matrix says."""
    expected = dict(zip(COLUMNS, MATRIX[route], strict=True))
    wrong: list[str] = []
    for caller in RUN_ORDER:
        try:
            check_cell(api, store_target, world, route, caller, expected[caller])
        except AssertionError as error:  # every wrong cell of the row, not only the first
            wrong.append(
                f"{route[0]} {ORG}{route[1]} {caller} (expected {expected[caller]}): {error}"
            )
    return wrong


@ON_EVERY_STORE
@pytest.mark.parametrize("route", sorted(OWN_WORLD), ids=lambda r: f"{r[0]} {ORG}{r[1]}")
def test_every_caller_gets_the_answer_the_matrix_gives_in_a_world_of_its_own(
    api: Api,
    store_target: StoreTarget,
    provisioning_step: FailsForChosenSlugs,
    route: tuple[str, str],
) -> None:
    slug = unique_slug("matrix")
    if route == ("POST", "/provisioning/retry"):
        provisioning_step.slugs.add(slug)
    world = build_world(api, slug)

    wrong = wrong_cells(api, store_target, world, route)

    assert not wrong, "\n".join(wrong)


@ON_EVERY_STORE
def test_every_caller_gets_the_answer_the_matrix_gives_on_every_other_route(
    api: Api, store_target: StoreTarget
) -> None:
    world = build_world(api, unique_slug("matrix"))

    wrong = [
        cell for route in SHARED_WORLD for cell in wrong_cells(api, store_target, world, route)
    ]

    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # the routes, not the store
def test_every_org_scoped_route_has_a_row_in_the_matrix(api: Api) -> None:
    paths = create_app(api.tenantry).openapi()["paths"]
    served = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(ORG)
        for method in operations
    }
    assert {(method, ORG + suffix) for method, suffix in MATRIX} == served
    assert set(CALLS) == set(MATRIX)
    assert set(RUN_ORDER) == set(COLUMNS)
    assert set(MATRIX) >= OWN_WORLD
