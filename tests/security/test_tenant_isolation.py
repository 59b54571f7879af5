"""Tenant isolation (DESIGN §3, seeds/003 scenario 4, seeds/004) beside the aggressor walk
(tests/security/test_probe.py, every route by every kind of principal): an organisation id
too long to exist is refused as malformed on every route; nobody gets a token for an
organisation they do not belong to; a tenant's own lists show only itself; and on
PostgreSQL row-level security hides B from A's transactions."""

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
from tenantry.testing import CASES, Oracle
from tests.access_builders import (
    add_to_team,
    assign,
    made_role,
    made_team,
)
from tests.harness import (
    Account,
    Api,
    StoreTarget,
    actions,
    audit_events,
    unique_email,
    unique_slug,
)
from tests.org_builders import stored_membership

ORGANISATION_CASES = [case for case in CASES if case.oracle is Oracle.ORGANISATION]


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


def test_an_org_id_too_long_to_exist_is_malformed_input_not_a_crash(
    api: Api, store_target: StoreTarget, tenant_a: Tenant
) -> None:
    """Ids are at most 40 characters; a longer one once reached the audit insert (500).
    Every route of the probe's matrix under an organisation in turn, on one tenant: a
    refusal changes nothing for the next."""
    a_trail_before = audit_events(store_target, org_id=tenant_a.id)
    wrong = []

    for case in ORGANISATION_CASES:
        path, body = case.request(tenant_a.ids("org_" + "x" * 300))
        refused = api.client.request(case.method, path, json=body, headers=tenant_a.owner.auth)
        if (refused.status_code, refused.json().get("code")) != (422, "validation_failed"):
            wrong.append(f"{case.route}: {refused.status_code} {refused.text}")

    assert not wrong, "\n".join(wrong)
    assert audit_events(store_target, org_id=tenant_a.id) == a_trail_before


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
