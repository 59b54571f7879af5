"""`tenantry.fastapi.require` guarding a small product API, with tokens and decisions from a
real `tenantry serve` process (one per store for the module)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from tenantry.client import EPOCH_HEADER, AsyncTenantryClient, TenantryClient
from tenantry.fastapi import Principal, add_problem_handler, require
from tests.harness import bearer
from tests.servers import Served, an_organisation_with_a_member


def tenantry_of(request: Request) -> AsyncTenantryClient:
    """The client the product's lifespan made (one connection pool, on the app's loop)."""
    client: AsyncTenantryClient = request.app.state.tenantry
    return client


# Module-level, as a product would write them: FastAPI resolves the annotations here.
MayPublish = Annotated[
    Principal, Depends(require("site:publish", client=tenantry_of, org_from="org_id"))
]
MayEdit = Annotated[
    Principal,
    Depends(require("site:update", client=tenantry_of, org_from="org_id", team_from="team_id")),
]
MayList = Annotated[Principal, Depends(require("site:read", client=tenantry_of))]


def product_app(tenantry_url: str) -> FastAPI:
    """Sites that teams own: publishing needs `site:publish` in the organisation of the
    path, editing needs `site:update` within the team of the path, listing `site:read` in
    the organisation the `X-Organisation-Id` header names."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncTenantryClient(tenantry_url, trust_env=False) as client:
            app.state.tenantry = client
            yield

    app = FastAPI(lifespan=lifespan)
    add_problem_handler(app)

    @app.post("/orgs/{org_id}/sites/{site_id}/publish")
    async def publish(site_id: str, who: MayPublish) -> dict[str, Any]:
        return {"site_id": site_id, "published_by": who.user_id, **_shown(who)}

    @app.patch("/orgs/{org_id}/teams/{team_id}/sites/{site_id}")
    async def edit(site_id: str, who: MayEdit) -> dict[str, Any]:
        return {"site_id": site_id, **_shown(who)}

    @app.get("/sites")
    async def list_sites(who: MayList) -> dict[str, Any]:
        return {"items": [], **_shown(who)}

    return app


def _shown(who: Principal) -> dict[str, Any]:
    return {
        "user_id": who.user_id,
        "organisation_id": who.organisation_id,
        "org_role": who.org_role,
        "team_ids": list(who.team_ids),
        "team_id": who.team_id,
        "epoch": who.epoch,
    }


@pytest.fixture
def tenantry(server: Served) -> Iterator[TenantryClient]:
    with TenantryClient(server.base, trust_env=False) as client:
        yield client


@pytest.fixture
def product(server: Served) -> Iterator[TestClient]:
    with TestClient(product_app(server.base)) as client:
        yield client


def test_a_member_with_the_permission_publishes_and_the_route_gets_the_principal(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Publisher", ["site:publish"])
    assigned = tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)

    answer = product.post(f"/orgs/{org.org_id}/sites/site_1/publish", headers=bearer(org.member))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "site_id": "site_1",
        "published_by": org.member_id,
        "user_id": org.member_id,
        "organisation_id": org.org_id,
        "org_role": "MEMBER",
        "team_ids": [],
        "team_id": None,
        "epoch": assigned.epoch,
    }


def test_a_member_without_it_is_refused_403_with_tenantry_s_reason(
    server: Served, product: TestClient
) -> None:
    org = an_organisation_with_a_member(server)

    refused = product.post(f"/orgs/{org.org_id}/sites/site_1/publish", headers=bearer(org.member))
    elsewhere = product.post("/orgs/org_other/sites/site_1/publish", headers=bearer(org.member))

    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["status"], problem["code"], problem["reason"], problem["permission"]) == (
        403,
        "permission_denied",
        "no_matching_permission",
        "site:publish",
    )
    assert (elsewhere.status_code, elsewhere.json()["reason"]) == (403, "org_mismatch")


def test_no_bearer_or_one_tenantry_rejects_is_401(server: Served, product: TestClient) -> None:
    org = an_organisation_with_a_member(server)
    path = f"/orgs/{org.org_id}/sites/site_1/publish"

    missing = product.post(path)
    garbage = product.post(path, headers=bearer("not-a-token"))

    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "missing_token"
    assert (garbage.status_code, garbage.json()["code"]) == (401, "invalid_token")


def test_the_epoch_of_a_write_sent_along_is_never_answered_from_older_state(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    org = an_organisation_with_a_member(server)
    path = f"/orgs/{org.org_id}/sites/site_1/publish"
    before = product.post(path, headers=bearer(org.member))
    role = tenantry.create_role(org.owner, org.org_id, "Publisher", ["site:*"])

    assigned = tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)
    fresh = {**bearer(org.member), EPOCH_HEADER: str(assigned.epoch)}
    after = product.post(path, headers=fresh)
    ahead = product.post(path, headers={**fresh, EPOCH_HEADER: str(assigned.epoch + 50)})

    assert before.status_code == 403
    assert after.status_code == 200, after.text
    assert after.json()["epoch"] == assigned.epoch
    assert (ahead.status_code, ahead.json()["code"]) == (409, "epoch_not_reached")


def test_a_team_scoped_route_counts_the_team_role_only_in_its_team(
    server: Served, tenantry: TenantryClient, product: TestClient
) -> None:
    org = an_organisation_with_a_member(server)
    editor = tenantry.create_role(org.owner, org.org_id, "Editor", ["site:update"], scope="TEAM")
    web = tenantry.create_team(org.owner, org.org_id, "Web")
    docs = tenantry.create_team(org.owner, org.org_id, "Docs")
    tenantry.add_team_member(org.owner, org.org_id, web.id, org.member_id, editor.id)

    in_web = product.patch(
        f"/orgs/{org.org_id}/teams/{web.id}/sites/s1", headers=bearer(org.member)
    )
    in_docs = product.patch(
        f"/orgs/{org.org_id}/teams/{docs.id}/sites/s1", headers=bearer(org.member)
    )

    assert in_web.status_code == 200, in_web.text
    assert (in_web.json()["team_id"], in_web.json()["team_ids"]) == (web.id, [web.id])
    assert in_docs.status_code == 403
    assert in_docs.json()["reason"] == "not_in_team"


def test_the_organisation_can_come_from_a_header(server: Served, product: TestClient) -> None:
    org = an_organisation_with_a_member(server)

    listed = product.get("/sites", headers={**bearer(org.owner), "X-Organisation-Id": org.org_id})
    unnamed = product.get("/sites", headers=bearer(org.owner))

    assert listed.status_code == 200, listed.text
    assert (listed.json()["organisation_id"], listed.json()["org_role"]) == (org.org_id, "OWNER")
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "organisation_required")
