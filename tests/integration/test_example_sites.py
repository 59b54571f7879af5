"""`examples/sites`, the product API beside tenantry, against a real `tenantry serve` process
(one per store for the module): the owner sets access up over tenantry's HTTP API, the
product's routes answer by tenantry's decisions, and tenantry keeps the refusals on record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from examples.sites.app import create_app
from tenantry.client import EPOCH_HEADER, TenantryClient
from tenantry.domain.audit import EventType, Outcome
from tests.harness import audit_events, bearer
from tests.servers import (
    Organisation,
    Served,
    an_organisation_with_a_member,
)

EDITING = ["site:create", "site:update", "site:read"]


@pytest.fixture
def tenantry(server: Served) -> Iterator[TenantryClient]:
    with TenantryClient(server.base, trust_env=False) as client:
        yield client


@pytest.fixture
def product(server: Served) -> Iterator[TestClient]:
    with TestClient(create_app(server.base)) as client:
        yield client


@dataclass(frozen=True)
class SiteTeams:
    """An organisation whose member edits sites in team `web` (not in `docs`), and the
    organisation role `Publisher` the owner has made but not yet given to the member."""

    org: Organisation
    web: str
    docs: str
    publisher: str

    def sites(self, team_id: str) -> str:
        return f"/orgs/{self.org.org_id}/teams/{team_id}/sites"


def site_teams(server: Served, tenantry: TenantryClient) -> SiteTeams:
    org = an_organisation_with_a_member(server)
    owner, org_id = org.owner, org.org_id
    editor = tenantry.create_role(owner, org_id, "Site editor", EDITING, scope="TEAM")
    publisher = tenantry.create_role(owner, org_id, "Publisher", ["site:publish"])
    web = tenantry.create_team(owner, org_id, "Web")
    docs = tenantry.create_team(owner, org_id, "Docs")
    tenantry.add_team_member(owner, org_id, web.id, org.member_id, editor.id)
    return SiteTeams(org, web.id, docs.id, publisher.id)


def refusal(response: httpx2.Response) -> tuple[int, str, str | None]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    problem: dict[str, Any] = response.json()
    return response.status_code, problem["code"], problem.get("reason")


def denials(server: Served, org_id: str, user_id: str) -> list[tuple[str, str | None, Any]]:
    """tenantry's AUTHORIZATION DENIED events for `user_id` in `org_id`: (permission, reason,
    the team or organisation asked about)."""
    found = audit_events(server.target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    assert {event.event_type for event in found} == {EventType.AUTHORIZATION}, found
    found.sort(key=lambda event: event.occurred_at)
    return [(e.action, e.reason, e.resource_id) for e in found]


def test_a_site_editor_edits_in_its_team_and_publishes_once_made_publisher(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    scene = site_teams(server, tenantry)
    org, member = scene.org, bearer(scene.org.member)

    made = product.post(scene.sites(scene.web), json={"name": "Home"}, headers=member)
    site_id = made.json()["id"]
    site = f"{scene.sites(scene.web)}/{site_id}"
    renamed = product.patch(site, json={"name": "Welcome"}, headers=member)
    elsewhere = product.post(scene.sites(scene.docs), json={"name": "Guide"}, headers=member)
    unpublished = product.post(f"{site}/publish", headers=member)
    given = tenantry.assign_role(org.owner, org.org_id, org.member_id, scene.publisher)
    fresh = {**member, EPOCH_HEADER: str(given.epoch)}
    published = product.post(f"{site}/publish", headers=fresh)
    listed = product.get(scene.sites(scene.web), headers=member)

    assert made.status_code == 201, made.text
    assert renamed.status_code == 200, renamed.text
    assert refusal(elsewhere) == (403, "permission_denied", "not_in_team")
    assert refusal(unpublished) == (403, "permission_denied", "no_matching_permission")
    assert published.status_code == 200, published.text
    assert listed.json() == [
        {
            "id": site_id,
            "organisation_id": org.org_id,
            "team_id": scene.web,
            "name": "Welcome",
            "created_by": org.member_id,
            "published": True,
            "published_by": org.member_id,
        }
    ]
    assert denials(server, org.org_id, org.member_id) == [
        ("site:create", "not_in_team", scene.docs),
        ("site:publish", "no_matching_permission", scene.web),
    ]


def test_a_stranger_is_refused_org_mismatch_and_no_bearer_is_401(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    scene = site_teams(server, tenantry)
    stranger = an_organisation_with_a_member(server)

    theirs = product.get(scene.sites(scene.web), headers=bearer(stranger.member))
    anonymous = product.get(scene.sites(scene.web))

    assert refusal(theirs) == (403, "permission_denied", "org_mismatch")
    assert refusal(anonymous) == (401, "missing_token", None)
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    # The refusal is kept in the organisation of the stranger's token, naming the team asked.
    assert denials(server, stranger.org_id, stranger.member_id) == [
        ("site:read", "org_mismatch", scene.web)
    ]


def test_a_site_of_another_team_or_organisation_is_not_found(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    scene = site_teams(server, tenantry)
    made = product.post(
        scene.sites(scene.web), json={"name": "Home"}, headers=bearer(scene.org.member)
    )
    site_id = made.json()["id"]
    other = site_teams(server, tenantry)
    owner, other_owner = bearer(scene.org.owner), bearer(other.org.owner)

    in_docs = product.patch(
        f"{scene.sites(scene.docs)}/{site_id}", json={"name": "X"}, headers=owner
    )
    other_org = product.post(f"{other.sites(other.web)}/{site_id}/publish", headers=other_owner)
    listed_elsewhere = product.get(other.sites(other.web), headers=other_owner)

    assert made.status_code == 201, made.text
    assert in_docs.status_code == 404, in_docs.text
    assert other_org.status_code == 404, other_org.text
    assert listed_elsewhere.json() == []
