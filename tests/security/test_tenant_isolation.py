"""Tenant isolation (DESIGN §3, seeds/003 scenario 4, seeds/004): tenant A's token against
every org-scoped route of tenant B is a 404 that says nothing about B, leaves B unchanged and
is audited once as DENIED in A's organisation; nobody gets a token for an organisation they
do not belong to; and on PostgreSQL row-level security hides B from A's transactions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import Outcome
from tenantry.domain.errors import Unavailable
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.roles import OrgRole
from tenantry.http.app import create_app
from tests.access_builders import (
    add_to_team,
    assign,
    made_role,
    made_team,
    stored_assignments,
    stored_role,
    stored_team,
    stored_team_members,
)
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    StoreTarget,
    actions,
    audit_events,
    unique_email,
    unique_slug,
)
from tests.org_builders import stored_membership, stored_organisation


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    permission: str
    body: dict[str, Any] | None = None
    resource: str = "org_id"  # the path parameter naming what a refusal is audited about

    def call(self, api: Api, account: Account, ids: dict[str, str]) -> Any:
        """The route on the objects `ids` names (`org_id`, `user_id`, `role_id`, `team_id`,
        `event_id`, and `owner_id` for bodies), in path and body alike."""
        body = {
            k: v.format(**ids) if isinstance(v, str) else v for k, v in (self.body or {}).items()
        }
        return api.client.request(
            self.method,
            self.path.format(**ids),
            json=body if self.body is not None else None,
            headers=account.auth,
        )

    def audited_resource(self, ids: dict[str, str]) -> str:
        """What a refusal of the route on `ids` is audited about."""
        return ids[self.resource]


ORG = "/v1/organisations/{org_id}"
MEMBER = ORG + "/members/{user_id}"
ROLE = ORG + "/roles/{role_id}"
TEAM = ORG + "/teams/{team_id}"
INVITATION = ORG + "/invitations/{invitation_id}"

# Bodies a caller of B would send, naming B's own objects: A's token must get nowhere with them.
ORG_ROUTES = [
    Route("GET", ORG, "organisation:read"),
    Route("PATCH", ORG, "organisation:update", {"name": "Pwned", "settings": {"pwned": True}}),
    Route("DELETE", ORG, "organisation:delete"),
    Route("POST", ORG + "/provisioning/retry", "organisation:update"),
    Route("POST", ORG + "/transfer-ownership", "organisation:transfer", {"user_id": "{user_id}"}),
    Route("GET", ORG + "/members", "member:read"),
    Route("PATCH", MEMBER, "member:update", {"org_role": "OWNER"}, resource="user_id"),
    Route("DELETE", MEMBER, "member:remove", resource="user_id"),
    Route("GET", MEMBER + "/permissions", "member:read", resource="user_id"),
    Route("PUT", MEMBER + "/roles/{role_id}", "role:assign", resource="user_id"),
    Route("DELETE", MEMBER + "/roles/{role_id}", "role:assign", resource="user_id"),
    Route("GET", ORG + "/roles", "role:read"),
    Route("POST", ORG + "/roles", "role:create", {"name": "Pwned", "permissions": ["*:*"]}),
    Route("GET", ROLE, "role:read", resource="role_id"),
    Route("PATCH", ROLE, "role:update", {"permissions": ["*:*"]}, resource="role_id"),
    Route("DELETE", ROLE, "role:delete", resource="role_id"),
    Route("GET", ORG + "/teams", "team:read"),
    Route("POST", ORG + "/teams", "team:create", {"name": "Pwned"}),
    Route("GET", TEAM, "team:read", resource="team_id"),
    Route("PATCH", TEAM, "team:update", {"name": "Pwned"}, resource="team_id"),
    Route("DELETE", TEAM, "team:delete", resource="team_id"),
    Route("GET", TEAM + "/members", "team:read", resource="team_id"),
    Route(
        "POST",
        TEAM + "/members",
        "team:member:add",
        {"user_id": "{owner_id}", "team_role": "LEAD"},
        resource="team_id",
    ),
    Route(
        "PATCH",
        TEAM + "/members/{user_id}",
        "team:member:add",
        {"team_role": "LEAD"},
        resource="team_id",
    ),
    Route("DELETE", TEAM + "/members/{user_id}", "team:member:remove", resource="team_id"),
    Route("GET", ORG + "/audit-events", "audit:read"),
    Route("GET", ORG + "/audit-events/export", "audit:read"),
    Route("GET", ORG + "/audit-events/verify", "audit:read"),
    Route("GET", ORG + "/audit-events/{event_id}", "audit:read", resource="event_id"),
    Route("GET", ORG + "/invitations", "invitation:read"),
    Route(
        "POST",
        ORG + "/invitations",
        "invitation:create",
        {"email": "pwned@example.com", "org_role": "OWNER", "role_ids": ["{role_id}"]},
    ),
    Route(
        "POST",
        ORG + "/invitations/bulk",
        "invitation:create",
        {"invitations": [{"email": "pwned@example.com", "team_id": "{team_id}"}]},
    ),
    Route("GET", INVITATION, "invitation:read", resource="invitation_id"),
    Route("POST", INVITATION + "/resend", "invitation:create", resource="invitation_id"),
    Route("DELETE", INVITATION, "invitation:revoke", resource="invitation_id"),
]


@dataclass
class Tenant:
    owner: Account
    org: dict[str, Any]
    member: Account
    role_id: str
    role_name: str
    team_id: str
    team_name: str
    event_id: str
    invitation_id: str
    invited_email: str

    @property
    def id(self) -> str:
        return str(self.org["id"])

    def ids(self, org_id: str | None = None) -> dict[str, str]:
        """What the routes' paths and bodies name: this tenant's organisation (or `org_id`),
        its member (who holds its role and is in its team), its owner, role and team."""
        return {
            "org_id": org_id or self.id,
            "user_id": self.member.user_id,
            "owner_id": self.owner.user_id,
            "role_id": self.role_id,
            "team_id": self.team_id,
            "event_id": self.event_id,
            "invitation_id": self.invitation_id,
        }

    def secrets(self) -> list[str]:
        """Everything about this tenant that must never reach another tenant."""
        return [
            self.org["name"],
            self.org["slug"],
            self.owner.email,
            self.owner.user_id,
            self.member.email,
            self.member.user_id,
            self.role_id,
            self.role_name,
            self.team_id,
            self.team_name,
            self.event_id,
            self.invitation_id,
            self.invited_email,
        ]


def make_tenant(api: Api, name: str) -> Tenant:
    """An organisation with a member who holds its custom role and belongs to its team."""
    owner, org = api.owner_with_org(unique_slug(name.split()[0].lower()))
    renamed = api.client.patch(
        f"/v1/organisations/{org['id']}", json={"name": name}, headers=owner.auth
    )
    assert renamed.status_code == 200, renamed.text
    member = api.member_of(org["id"])
    role_name, team_name = f"Keeper {secrets.token_hex(4)}", f"Crew {secrets.token_hex(4)}"
    role_id = made_role(api, owner, role_name, ["team:read"])
    assert assign(api, owner, member.user_id, role_id).status_code == 200
    team_id = made_team(api, owner, team_name)
    assert add_to_team(api, owner, team_id, member.user_id).status_code == 201
    invited_email = unique_email("invited")
    invited = api.client.post(
        f"/v1/organisations/{org['id']}/invitations",
        json={"email": invited_email, "role_ids": [role_id], "team_id": team_id},
        headers=owner.auth,
    )
    assert invited.status_code == 201, invited.text
    newest = api.client.get(f"/v1/organisations/{org['id']}/audit-events", headers=owner.auth)
    assert newest.status_code == 200, newest.text
    event_id = newest.json()["items"][0]["event_id"]
    return Tenant(
        owner,
        renamed.json(),
        member,
        role_id,
        role_name,
        team_id,
        team_name,
        event_id,
        invited.json()["id"],
        invited_email,
    )


def caller_in(api: Api, tenant: Tenant, role: OrgRole) -> Account:
    return tenant.owner if role is OrgRole.OWNER else api.member_of(tenant.id, role)


def snapshot(api: Api, store_target: StoreTarget, tenant: Tenant) -> tuple[Any, ...]:
    """B's organisation row, both memberships, its role and its assignment, its team and
    the team's members, and its whole audit trail."""
    return (
        stored_organisation(api.tenantry, tenant.id),
        stored_membership(api.tenantry, tenant.id, tenant.owner.user_id),
        stored_membership(api.tenantry, tenant.id, tenant.member.user_id),
        stored_role(api.tenantry, tenant.id, tenant.role_id),
        stored_assignments(api.tenantry, tenant.id, tenant.member.user_id),
        stored_team(api.tenantry, tenant.id, tenant.team_id),
        stored_team_members(api.tenantry, tenant.id, tenant.team_id),
        audit_events(store_target, org_id=tenant.id),
    )


def without_request_id(response: Any) -> tuple[int, str, dict[str, Any]]:
    body = {k: v for k, v in response.json().items() if k != "request_id"}
    return response.status_code, response.headers["content-type"], body


def assert_leaks_nothing(response: Any, tenant: Tenant) -> None:
    exposed = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in tenant.secrets():
        assert secret not in exposed, f"the response reveals {secret!r} of the other tenant"


@pytest.fixture
def tenant_a(api: Api) -> Tenant:
    return make_tenant(api, "Aardvark Analytics")


@pytest.fixture
def tenant_b(api: Api) -> Tenant:
    return make_tenant(api, "Borealis Secret Holdings")


# --- A's token against B ------------------------------------------------------------------


def refused_as_if_nowhere(
    api: Api, store_target: StoreTarget, route: Route, attacker: Account, a: Tenant, b: Tenant
) -> None:
    """One attacker of A on one route against B: a 404 that reads as for an organisation that
    does not exist, B unchanged, and the two refusals audited in A alone."""
    nowhere = "org_" + secrets.token_hex(13)
    b_before = snapshot(api, store_target, b)
    a_trail = audit_events(store_target, org_id=a.id)
    a_end = a_trail[-1].seq if a_trail else None

    against_b = route.call(api, attacker, b.ids())
    against_nothing = route.call(api, attacker, b.ids(nowhere))

    assert against_b.status_code == 404, against_b.text
    assert against_b.json()["code"] == "organisation_not_found"
    assert without_request_id(against_b) == without_request_id(against_nothing)
    assert_leaks_nothing(against_b, b)
    assert snapshot(api, store_target, b) == b_before
    recorded = audit_events(store_target, org_id=a.id, after_seq=a_end)
    assert sorted(
        (e.actor_id, e.outcome, e.action, e.reason, e.resource_id) for e in recorded
    ) == sorted(
        (
            attacker.user_id,
            Outcome.DENIED,
            route.permission,
            "other_organisation",
            route.audited_resource(b.ids(org_id)),
        )
        for org_id in (b.id, nowhere)
    )
    assert audit_events(store_target, org_id=nowhere) == []


@ON_EVERY_STORE
def test_a_token_for_one_tenant_finds_nothing_in_another(
    api: Api, store_target: StoreTarget, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    # Every route with every role of A, against the same B: building the two tenants is most
    # of the cost, and an attempt changes nothing of B, as each one checks.
    attackers = {role: caller_in(api, tenant_a, role) for role in OrgRole}
    wrong = []

    for route in ORG_ROUTES:
        for role, attacker in attackers.items():
            try:
                refused_as_if_nowhere(api, store_target, route, attacker, tenant_a, tenant_b)
            except AssertionError as error:  # every failing route and role, not the first
                wrong.append(f"{route.method} {route.path} as {role}: {error}")

    assert not wrong, "\n".join(wrong)


def test_an_org_id_too_long_to_exist_is_malformed_input_not_a_crash(
    api: Api, store_target: StoreTarget, tenant_a: Tenant
) -> None:
    """Ids are at most 40 characters; a longer one once reached the audit insert (500).
    Every route in turn, on one tenant: a refusal changes nothing for the next."""
    a_trail_before = audit_events(store_target, org_id=tenant_a.id)
    wrong = []

    for route in ORG_ROUTES:
        refused = route.call(api, tenant_a.owner, tenant_a.ids("org_" + "x" * 300))
        if (refused.status_code, refused.json().get("code")) != (422, "validation_failed"):
            wrong.append(f"{route.method} {route.path}: {refused.status_code} {refused.text}")

    assert not wrong, "\n".join(wrong)
    assert audit_events(store_target, org_id=tenant_a.id) == a_trail_before


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # the routes, not the store
def test_every_org_scoped_route_is_in_the_isolation_matrix(api: Api) -> None:
    """A new route under an organisation must join ORG_ROUTES (DESIGN §3.5)."""
    paths = create_app(api.tenantry).openapi()["paths"]
    served = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(ORG)
        for method in operations
    }
    covered = [(route.method, route.path) for route in ORG_ROUTES]
    assert served - set(covered) == set(), "org-scoped routes missing from ORG_ROUTES"
    assert set(covered) - served == set(), "ORG_ROUTES names routes the API does not serve"
    assert len(covered) == len(set(covered)), "a route is in ORG_ROUTES twice"


# --- no token for an organisation without membership --------------------------------------


def test_nobody_gets_a_token_for_an_organisation_they_do_not_belong_to(
    api: Api, store_target: StoreTarget, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    outsider = tenant_a.owner
    nowhere = "org_" + secrets.token_hex(13)

    login_b = api.login(outsider.email, org_id=tenant_b.id)
    login_nowhere = api.login(outsider.email, org_id=nowhere)
    refresh_b = api.client.post(
        "/v1/auth/refresh",
        json={"refresh_token": outsider.refresh_token, "organisation_id": tenant_b.id},
    )

    for refused in (login_b, login_nowhere, refresh_b):
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "not_a_member"
        assert "access_token" not in refused.json()
        assert_leaks_nothing(refused, tenant_b)
    assert without_request_id(login_b) == without_request_id(login_nowhere)
    assert without_request_id(refresh_b) == without_request_id(login_b)
    refusals = audit_events(
        store_target, org_id=None, actor_id=outsider.user_id, action="auth.organisation_token"
    )
    assert sorted((e.outcome, e.reason, e.details["target_org"]) for e in refusals) == sorted(
        [
            (Outcome.DENIED, "not_a_member", tenant_b.id),
            (Outcome.DENIED, "not_a_member", nowhere),
            (Outcome.DENIED, "not_a_member", tenant_b.id),
        ]
    )
    assert stored_membership(api.tenantry, tenant_b.id, outsider.user_id) is None
    # The refused switch rolled back whole: the refresh token was not spent.
    still_usable = api.client.post(
        "/v1/auth/refresh", json={"refresh_token": outsider.refresh_token}
    )
    assert still_usable.status_code == 200, still_usable.text
    assert still_usable.json()["organisation_id"] == tenant_a.id


def test_a_user_level_token_finds_no_organisation(
    api: Api, store_target: StoreTarget, tenant_b: Tenant
) -> None:
    loner = api.verified_account()
    b_before = snapshot(api, store_target, tenant_b)

    for route in ORG_ROUTES:
        refused = route.call(api, loner, tenant_b.ids())
        assert refused.status_code == 404, f"{route.method} {route.path}: {refused.text}"
        assert refused.json()["code"] == "organisation_not_found"
        assert_leaks_nothing(refused, tenant_b)

    assert snapshot(api, store_target, tenant_b) == b_before
    denied = audit_events(store_target, org_id=None, actor_id=loner.user_id, outcome=Outcome.DENIED)
    assert sorted((e.action, e.reason, e.resource_id) for e in denied) == sorted(
        (route.permission, "other_organisation", route.audited_resource(tenant_b.ids()))
        for route in ORG_ROUTES
    )


def test_a_tenants_own_list_shows_only_its_own_organisation(
    api: Api, store_target: StoreTarget, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        for account in (tenant.owner, tenant.member):
            mine = api.client.get("/v1/organisations", headers=account.auth)
            assert [o["id"] for o in mine.json()["items"]] == [tenant.id]
            assert_leaks_nothing(mine, other)
        members = api.client.get(
            f"/v1/organisations/{tenant.id}/members", headers=tenant.member.auth
        )
        assert {m["user_id"] for m in members.json()["items"]} == {
            tenant.owner.user_id,
            tenant.member.user_id,
        }
        assert_leaks_nothing(members, other)
        assert audit_events(store_target, org_id=tenant.id, outcome=Outcome.DENIED) == []
        assert ("organisation.update", "SUCCESS") in actions(
            audit_events(store_target, org_id=tenant.id, actor_id=tenant.owner.user_id)
        )


# --- the database itself --------------------------------------------------------------------


@pytest.mark.parametrize("store_target", ["postgres"], indirect=True)
def test_row_level_security_hides_another_tenant_from_a_scoped_transaction(
    api: Api, store_target: StoreTarget, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """SQLite has no RLS (repositories scope by org id there); this proves the PostgreSQL net."""
    a_owner, now = tenant_a.owner.user_id, api.tenantry.clock.now()
    with api.tenantry.store.unit_of_work(org_id=tenant_a.id, user_id=a_owner) as uow:
        assert uow.organisations.get(tenant_b.id) is None
        assert uow.memberships.get(tenant_b.id, tenant_b.owner.user_id) is None
        assert uow.memberships.list_members(tenant_b.id, limit=10, cursor=None).items == []
        assert uow.audit.find(AuditQuery(org_id=tenant_b.id)) == []
        own = uow.organisations.get(tenant_a.id)
        assert own is not None
        assert own.name == "Aardvark Analytics"
        uow.memberships.add(
            Membership(tenant_b.id, a_owner, OrgRole.OWNER, MembershipStatus.ACTIVE, now)
        )
        with pytest.raises(Unavailable) as refused:  # writes are applied, and refused, at commit
            uow.commit()
        assert "row-level security" in str(refused.value.__cause__)
    with api.tenantry.store.unit_of_work() as unscoped:
        assert unscoped.organisations.get(tenant_b.id) is None
        assert unscoped.memberships.get(tenant_b.id, tenant_b.owner.user_id) is None
    assert stored_membership(api.tenantry, tenant_b.id, a_owner) is None
