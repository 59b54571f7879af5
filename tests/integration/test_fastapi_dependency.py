"""`tenantry.fastapi.require` guarding a small product API, with tokens and decisions from a
real `tenantry serve` process (one per store for the module); and the same checks decided in
process, with tenantry mounted in the product's app, answered alike.

The seeds' flow 3 through the dependency is in `test_fastapi_dependency_seeds.py`, the local
verification of the bearer in `test_fastapi_dependency_tokens.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict
from typing import Annotated, Any, Literal

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from tenantry.client import EPOCH_HEADER, AsyncTenantryClient, TenantryClient
from tenantry.fastapi import Principal, add_problem_handler, require
from tenantry.http.app import create_app
from tests.harness import PASSWORD, bearer, unique_email
from tests.servers import (
    Organisation,
    Served,
    add_membership,
    an_organisation_with_a_member,
    http_client,
    logged_in,
    operator_made_user,
)


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

    app = FastAPI(lifespan=client_made(tenantry_url))
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


def client_made(tenantry_url: str) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The product's lifespan: one client for the app (one connection pool, on its loop)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncTenantryClient(tenantry_url, trust_env=False) as client:
            app.state.tenantry = client
            yield

    return lifespan


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


@pytest.mark.parametrize(
    ("permission", "options", "refused"),
    [
        ("site:*", {"client": tenantry_of}, ValueError),
        ([], {"client": tenantry_of}, ValueError),
        ("site:read", {}, TypeError),
        ("site:read", {"client": tenantry_of, "tenantry": lambda r: r.app.state.x}, TypeError),
        ("site:read", {"tenantry": lambda r: r.app.state.x, "audience": "tenantry"}, TypeError),
    ],
    ids=["a pattern", "nothing", "no decider", "two deciders", "an audience in process"],
)
def test_a_check_that_cannot_be_asked_is_refused_when_the_route_is_declared(
    permission: str | list[str], options: dict[str, Any], refused: type[Exception]
) -> None:
    with pytest.raises(refused):
        require(permission, **options)


# --- one guarded route, decided over HTTP or in process -------------------------------------

Mode = Literal["over_http", "in_process"]
MODES: list[Mode] = ["over_http", "in_process"]
Check = Callable[[Request], Awaitable[Principal]]
Products = Callable[..., TestClient]


async def guard(request: Request) -> Principal:
    """The `require(...)` this product was built with: tests make a product per check, and
    FastAPI resolves a route's annotations at module level."""
    check: Check = request.app.state.guard
    return await check(request)


Guarded = Annotated[Principal, Depends(guard)]


def guarded_product(
    server: Served, mode: Mode, permission: str | Sequence[str], **options: Any
) -> FastAPI:
    """A product whose route runs when `require(permission, **options)` lets it, in the
    organisation of the path (or a team of it): decided by the `tenantry serve` process over
    HTTP, or in this process by a tenantry on the same store, mounted at `/tenantry`."""
    if mode == "over_http":
        app = FastAPI(lifespan=client_made(server.base))
        check = require(permission, client=tenantry_of, org_from="org_id", **options)
    else:
        app = FastAPI()
        app.mount("/tenantry", create_app(server.tenantry))
        check = require(permission, tenantry=server.tenantry, org_from="org_id", **options)
    app.state.guard = check
    add_problem_handler(app)

    @app.get("/orgs/{org_id}/guarded")
    @app.get("/orgs/{org_id}/teams/{team_id}/guarded")
    async def guarded(who: Guarded) -> dict[str, Any]:
        return {"team_id": who.team_id, "authorization": asdict(who.authorization)}

    return app


@contextmanager
def products(server: Served, mode: Mode) -> Iterator[Products]:
    """`open(permission, **options)`: a running guarded product, closed on the way out."""
    with ExitStack() as stack:

        def open_(permission: str | Sequence[str], **options: Any) -> TestClient:
            app = guarded_product(server, mode, permission, **options)
            return stack.enter_context(TestClient(app))

        yield open_


def in_org(org_id: str) -> str:
    return f"/orgs/{org_id}/guarded"


def in_team(org_id: str, team_id: str) -> str:
    return f"/orgs/{org_id}/teams/{team_id}/guarded"


def another_member(server: Served, org_id: str) -> tuple[str, str]:
    """A new member of `org_id`, made as `an_organisation_with_a_member` makes one, signed in
    to it: (user id, access token)."""
    email = unique_email("member")
    user_id = operator_made_user(server.tenantry, email)
    add_membership(server.tenantry, org_id, user_id, email)
    with http_client(server.base) as client:
        return user_id, logged_in(client, email, org_id)


def signed_in_elsewhere(server: Served, org: Organisation, org_id: str) -> str:
    """`org`'s member made a member of `org_id` too, with a token for it."""
    add_membership(server.tenantry, org_id, org.member_id, org.member_email)
    with http_client(server.base) as client:
        return logged_in(client, org.member_email, org_id)


def test_in_process_decisions_are_the_answers_tenantry_serve_gives(
    server: Served, tenantry: TenantryClient
) -> None:
    org, other = an_organisation_with_a_member(server), an_organisation_with_a_member(server)
    owner, org_id, member = org.owner, org.org_id, org.member
    editing = ["site:update", "site:read"]
    editor = tenantry.create_role(owner, org_id, "Editor", editing, scope="TEAM")
    publisher = tenantry.create_role(owner, org_id, "Publisher", ["site:publish"])
    web = tenantry.create_team(owner, org_id, "Web")
    docs = tenantry.create_team(owner, org_id, "Docs")
    tenantry.add_team_member(owner, org_id, web.id, org.member_id, editor.id)
    given = tenantry.assign_role(owner, org_id, org.member_id, publisher.id)
    in_team_of_path = {"team_from": "team_id", "explain": True}
    ahead = {**bearer(member), EPOCH_HEADER: str(given.epoch + 10)}
    cases: list[tuple[str | list[str], dict[str, Any], str, dict[str, str]]] = [
        ("site:publish", {"explain": True}, in_org(org_id), bearer(member)),
        (editing, in_team_of_path, in_team(org_id, web.id), bearer(member)),
        ("site:update", in_team_of_path, in_team(org_id, docs.id), bearer(member)),
        ("site:update", in_team_of_path, in_team(org_id, "team_madeup"), bearer(member)),
        ("billing:read", {}, in_org(org_id), bearer(member)),
        ("billing:read", {"explain": True}, in_org(org_id), bearer(owner)),
        ("organisation:read", {}, in_org(other.org_id), bearer(member)),
        ("organisation:read", {}, in_org(org_id), bearer("not-a-token")),
        ("organisation:read", {}, in_org(org_id), ahead),
        ("organisation:read", {}, in_org("org_" + "x" * 40), bearer(member)),  # too long
    ]

    answers: dict[Mode, list[tuple[int, Any]]] = {}
    for mode in MODES:
        with products(server, mode) as open_:
            asked = [open_(p, **o).get(path, headers=headers) for p, o, path, headers in cases]
            answers[mode] = [(response.status_code, response.json()) for response in asked]

    assert answers["in_process"] == answers["over_http"]
    statuses = [status for status, _ in answers["over_http"]]
    assert statuses == [200, 200, 403, 403, 403, 200, 403, 401, 409, 422]
    reasons = [body.get("reason") for _, body in answers["over_http"][2:5]]
    assert reasons == ["not_in_team", "team_not_found", "no_matching_permission"]


def test_a_product_with_tenantry_mounted_signs_in_through_it_and_decides_in_process(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Publisher", ["site:publish"])
    tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)
    login = {"email": org.member_email, "password": PASSWORD, "organisation_id": org.org_id}
    question = {"organisation_id": org.org_id, "permission": "site:publish", "explain": True}

    with products(server, "in_process") as open_:
        product = open_("site:publish", explain=True)
        signed_in = product.post("/tenantry/v1/auth/login", json=login)
        token = signed_in.json()["access_token"]
        published = product.get(in_org(org.org_id), headers=bearer(token))
        asked = product.post("/tenantry/v1/authorize", json=question, headers=bearer(token))

    assert signed_in.status_code == 200, signed_in.text
    assert published.status_code == 200, published.text
    assert asked.status_code == 200, asked.text
    # The route's principal is tenantry's own answer, field for field.
    assert published.json()["authorization"] == asked.json()
    assert asked.json()["decisions"][0]["grant"]["path"] == f"role:{role.id}(Publisher)"
