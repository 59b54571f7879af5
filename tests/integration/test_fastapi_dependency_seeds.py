"""Seeds 001 flow 3 (authorization) through `tenantry.fastapi.require`, in both of its modes:
over HTTP against a real `tenantry serve` process (the bearer verified first through its
JWKS), and in process, with tenantry mounted in the product's app. The same cases as
`test_authorize.py` asks over raw HTTP; here a product route runs or is refused by them, and
tenantry keeps the refusals on record either way (`answer`, `granted`, `denials` are the
helpers `test_authorize.py` checks with)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tenantry.client import EPOCH_HEADER, TenantryClient
from tests.access_builders import (
    NO_MATCH,
    answer,
    assert_one_denial,
    denials,
    denied,
    details,
    granted,
    role_path,
    stored_epoch,
)
from tests.harness import bearer
from tests.integration.test_example_sites import refusal
from tests.integration.test_fastapi_dependency import (
    MODES,
    Mode,
    Products,
    another_member,
    in_org,
    in_team,
    products,
    signed_in_elsewhere,
)
from tests.servers import Organisation, Served, an_organisation_with_a_member


@pytest.fixture
def tenantry(server: Served) -> Iterator[TenantryClient]:
    with TenantryClient(server.base, trust_env=False) as client:
        yield client


@pytest.fixture(params=MODES)
def product(request: pytest.FixtureRequest, server: Served) -> Iterator[Products]:
    mode: Mode = request.param
    with products(server, mode) as open_:
        yield open_


def member_holding(
    server: Served, tenantry: TenantryClient, org: Organisation, name: str, permissions: list[str]
) -> tuple[str, str, str]:
    """A new member of `org` holding a new custom role: (user id, token, role id)."""
    user_id, token = another_member(server, org.org_id)
    role = tenantry.create_role(org.owner, org.org_id, name, permissions)
    tenantry.assign_role(org.owner, org.org_id, user_id, role.id)
    return user_id, token, role.id


def test_permission_resolution_from_roles(
    server: Served, tenantry: TenantryClient, product: Products
) -> None:
    org = an_organisation_with_a_member(server)
    asked = ["site:read", "site:create", "team:read"]
    role = tenantry.create_role(org.owner, org.org_id, "Site editor", asked)
    tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)

    response = product(asked, explain=True).get(in_org(org.org_id), headers=bearer(org.member))

    editor = role_path(role.id, "Site editor")
    assert response.status_code == 200, response.text
    assert response.json()["authorization"] == answer(
        org.member_id,
        org.org_id,
        granted("site:read", "site:read", editor),
        granted("site:create", "site:create", editor),
        # Held twice, from the built-in role and the custom one: the path's text decides.
        granted("team:read", "team:read", "org_role:MEMBER"),
        allowed=True,
        org_role="MEMBER",
        epoch=stored_epoch(server.tenantry, org.org_id),
    )
    assert denials(server.target, org.org_id, org.member_id) == []


def test_team_membership_resolution(
    server: Served, tenantry: TenantryClient, product: Products
) -> None:
    org = an_organisation_with_a_member(server)
    owner, org_id, member = org.owner, org.org_id, bearer(org.member)
    web = tenantry.create_team(owner, org_id, "Web").id
    docs = tenantry.create_team(owner, org_id, "Docs").id
    reviewer = tenantry.create_role(owner, org_id, "Reviewer", ["site:review"], scope="TEAM").id
    tenantry.add_team_member(owner, org_id, web, org.member_id, "LEAD")
    tenantry.add_team_member(owner, org_id, docs, org.member_id, reviewer)
    adding = product("team:member:add", team_from="team_id", explain=True)
    reviewing = product("site:review", team_from="team_id", explain=True)
    reviewing_anywhere = product("site:review")

    add_in_web = adding.get(in_team(org_id, web), headers=member)
    review_in_docs = reviewing.get(in_team(org_id, docs), headers=member)
    add_in_docs = adding.get(in_team(org_id, docs), headers=member)
    review_in_web = reviewing.get(in_team(org_id, web), headers=member)
    review_org_wide = reviewing_anywhere.get(in_org(org_id), headers=member)

    standing: dict[str, Any] = {
        "org_role": "MEMBER",
        "team_ids": sorted([web, docs]),
        "epoch": stored_epoch(server.tenantry, org_id),
    }
    lead = granted("team:member:add", "team:member:add", f"team:{web}/LEAD", web)
    assert add_in_web.status_code == 200, add_in_web.text
    assert add_in_web.json() == {
        "team_id": web,
        "authorization": answer(org.member_id, org_id, lead, allowed=True, **standing),
    }
    review = granted("site:review", "site:review", f"team:{docs}/{reviewer}(Reviewer)", docs)
    assert review_in_docs.status_code == 200, review_in_docs.text
    assert review_in_docs.json()["authorization"]["decisions"] == [review]
    for refused in (add_in_docs, review_in_web, review_org_wide):
        assert refusal(refused) == (403, "permission_denied", NO_MATCH)
    # One event a minute per permission, whichever team was asked about: the organisation-wide
    # denial comes within the minute and is counted, not recorded.
    assert sorted(denials(server.target, org_id, org.member_id)) == [
        ("site:review", NO_MATCH, web, details(org_id, team_id=web)),
        ("team:member:add", NO_MATCH, docs, details(org_id, team_id=docs)),
    ]


def test_org_access_validation(server: Served, tenantry: TenantryClient, product: Products) -> None:
    org_a, org_b = an_organisation_with_a_member(server), an_organisation_with_a_member(server)
    in_b = signed_in_elsewhere(server, org_a, org_b.org_id)  # a member of both, a token each
    reading = product("organisation:read")

    crossing = reading.get(in_org(org_b.org_id), headers=bearer(org_a.member))
    own = reading.get(in_org(org_b.org_id), headers=bearer(in_b))

    assert refusal(crossing) == (403, "permission_denied", "org_mismatch")
    assert crossing.json()["decisions"] == [
        {"permission": "organisation:read", "allowed": False, "reason": "org_mismatch"}
    ]
    assert own.status_code == 200, own.text
    seen_as = own.json()["authorization"]
    assert (seen_as["organisation_id"], seen_as["user_id"]) == (org_b.org_id, org_a.member_id)
    # On record in the token's organisation, naming the one it asked about.
    assert denials(server.target, org_a.org_id, org_a.member_id) == [
        ("organisation:read", "org_mismatch", org_b.org_id, details(org_b.org_id))
    ]
    assert denials(server.target, org_b.org_id, org_a.member_id) == []


def test_wildcard_permission_matching(
    server: Served, tenantry: TenantryClient, product: Products
) -> None:
    org = an_organisation_with_a_member(server)
    site_admin, site_token, _ = member_holding(server, tenantry, org, "Site admin", ["site:*"])
    super_admin, super_token, _ = member_holding(server, tenantry, org, "Super admin", ["*:*"])
    reader, reader_token, _ = member_holding(server, tenantry, org, "Reader", ["site:read"])
    asked = ["site:delete", "site:page:edit", "billing:invoice:pdf:download", "sites:read"]
    routes = {permission: product(permission, explain=True) for permission in asked}

    def outcomes(token: str) -> list[tuple[int, str | None]]:
        """For each permission: the status, and the pattern that allowed it or the reason."""
        found = []
        for permission in asked:
            response = routes[permission].get(in_org(org.org_id), headers=bearer(token))
            body = response.json()
            if response.status_code == 200:
                found.append((200, body["authorization"]["decisions"][0]["grant"]["pattern"]))
            else:
                found.append((response.status_code, body["reason"]))
        return found

    assert outcomes(site_token) == [(200, "site:*")] * 2 + [(403, NO_MATCH)] * 2
    assert outcomes(super_token) == [(200, "*:*")] * 4
    assert outcomes(reader_token) == [(403, NO_MATCH)] * 4
    assert [d[0] for d in denials(server.target, org.org_id, site_admin)] == [
        "billing:invoice:pdf:download",
        "sites:read",
    ]
    assert denials(server.target, org.org_id, super_admin) == []
    assert sorted(d[0] for d in denials(server.target, org.org_id, reader)) == sorted(asked)


def test_inactive_role_filtered_out(
    server: Served, tenantry: TenantryClient, product: Products
) -> None:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Publisher", ["site:publish"])
    tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)
    publishing = product("site:publish", explain=True)
    before = publishing.get(in_org(org.org_id), headers=bearer(org.member))

    deleted = tenantry.delete_role(org.owner, org.org_id, role.id)
    fresh = {**bearer(org.member), EPOCH_HEADER: str(deleted.epoch)}
    after = publishing.get(in_org(org.org_id), headers=fresh)

    assert before.status_code == 200, before.text
    assert before.json()["authorization"]["decisions"] == [
        granted("site:publish", "site:publish", role_path(role.id, "Publisher"))
    ]
    assert refusal(after) == (403, "permission_denied", NO_MATCH)
    assert after.json()["decisions"] == [
        {"permission": "site:publish", "allowed": False, "reason": NO_MATCH}
    ]
    assert denials(server.target, org.org_id, org.member_id) == [
        ("site:publish", NO_MATCH, org.org_id, details(org.org_id))
    ]


def test_user_without_roles_has_no_permissions(server: Served, product: Products) -> None:
    org = an_organisation_with_a_member(server)
    built_in = ["organisation:read", "member:read", "team:read"]
    beyond = ["organisation:update", "member:update", "role:read", "team:create", "audit:read"]

    allowed = product(built_in, explain=True).get(in_org(org.org_id), headers=bearer(org.member))
    refused = product([*beyond, "site:read"]).get(in_org(org.org_id), headers=bearer(org.member))

    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["authorization"] == answer(
        org.member_id,
        org.org_id,
        *[granted(p, p, "org_role:MEMBER") for p in built_in],
        allowed=True,
        org_role="MEMBER",
        epoch=stored_epoch(server.tenantry, org.org_id),
    )
    assert refusal(refused) == (403, "permission_denied", NO_MATCH)
    assert refused.json()["decisions"] == [
        {key: value for key, value in denied(p).items() if key != "grant"}
        for p in [*beyond, "site:read"]
    ]
    assert denials(server.target, org.org_id, org.member_id) == sorted(
        (p, NO_MATCH, org.org_id, details(org.org_id)) for p in [*beyond, "site:read"]
    )


def test_missing_required_permission_denied(
    server: Served, tenantry: TenantryClient, product: Products
) -> None:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Site updater", ["site:read", "site:update"])
    tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)

    response = product("site:delete").get(in_org(org.org_id), headers=bearer(org.member))

    assert refusal(response) == (403, "permission_denied", NO_MATCH)
    assert response.json()["permission"] == "site:delete"
    assert_one_denial(server.target, org.org_id, org.member_id, "site:delete", NO_MATCH)
