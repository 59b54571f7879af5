"""`tenantry.client` against a real `tenantry serve` process (one per store for the module),
and its retries against a stub far side that answers what a test scripts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from tenantry.client import (
    AsyncTenantryClient,
    Authorization,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Retries,
    TenantryClient,
    Unauthorized,
    Unavailable,
)
from tests.harness import PASSWORD
from tests.servers import (
    Organisation,
    Served,
    an_organisation_with_a_member,
    free_port,
    serving_in_thread,
)

FAST = Retries(count=2, backoff=0.01)


@pytest.fixture
def tenantry(server: Served) -> Iterator[TenantryClient]:
    with TenantryClient(server.base, trust_env=False, retries=FAST) as client:
        yield client


@dataclass(frozen=True)
class Publisher:
    org: Organisation
    role_id: str
    epoch: int  # the organisation's epoch once the member holds the role


def a_member_who_may_publish(server: Served, tenantry: TenantryClient) -> Publisher:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Publisher", ["site:*"])
    assigned = tenantry.assign_role(org.owner, org.org_id, org.member_id, role.id)
    assert assigned.epoch > role.epoch
    return Publisher(org, role.id, assigned.epoch)


# --- against tenantry -------------------------------------------------------------------------


def test_login_gives_a_token_pair_for_the_organisation_that_me_reads_back(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_organisation_with_a_member(server)

    pair = tenantry.login(org.member_email, PASSWORD, organisation_id=org.org_id)
    me = tenantry.me(pair.access_token)
    refreshed = tenantry.refresh(pair.refresh_token)

    assert (pair.organisation_id, pair.token_type, pair.expires_in > 0) == (
        org.org_id,
        "Bearer",
        True,
    )
    assert (me.id, me.email, me.organisation_id, me.org_role) == (
        org.member_id,
        org.member_email,
        org.org_id,
        "MEMBER",
    )
    assert refreshed.refresh_token != pair.refresh_token
    assert tenantry.me(refreshed.access_token).id == org.member_id
    with pytest.raises(Unauthorized):  # the used refresh token is spent
        tenantry.refresh(pair.refresh_token)


def test_an_allowed_check_says_which_grant_allows_it(
    server: Served, tenantry: TenantryClient
) -> None:
    scene = a_member_who_may_publish(server, tenantry)
    org = scene.org

    answer = tenantry.authorize(org.member, org.org_id, "site:publish", explain=True)
    owner = tenantry.authorize(org.owner, org.org_id, "billing:manage", explain=True)

    assert isinstance(answer, Authorization)
    assert (answer.allowed, answer.user_id, answer.organisation_id, answer.org_role) == (
        True,
        org.member_id,
        org.org_id,
        "MEMBER",
    )
    assert answer.epoch == scene.epoch
    [decision] = answer.decisions
    assert (decision.permission, decision.allowed, decision.reason) == (
        "site:publish",
        True,
        "granted",
    )
    assert decision.grant is not None
    assert decision.grant.pattern == "site:*"
    assert decision.grant.path.startswith(f"role:{scene.role_id}")
    assert owner.allowed
    assert owner.decisions[0].grant is not None
    assert owner.decisions[0].grant.path == "org_role:OWNER"


def test_a_denied_check_gives_each_permission_its_reason(
    server: Served, tenantry: TenantryClient
) -> None:
    org = a_member_who_may_publish(server, tenantry).org

    answer = tenantry.authorize(
        org.member, org.org_id, ["site:publish", "billing:manage"], explain=True
    )
    elsewhere = tenantry.authorize(org.member, "org_elsewhere", "site:publish")

    assert not answer.allowed
    assert [(d.permission, d.allowed, d.reason, d.grant is None) for d in answer.decisions] == [
        ("site:publish", True, "granted", False),
        ("billing:manage", False, "no_matching_permission", True),
    ]
    assert [d.permission for d in answer.denied] == ["billing:manage"]
    assert (elsewhere.allowed, elsewhere.decisions[0].reason) == (False, "org_mismatch")


def test_refusals_raise_typed_problems(server: Served, tenantry: TenantryClient) -> None:
    scene = a_member_who_may_publish(server, tenantry)
    org = scene.org

    with pytest.raises(Unauthorized) as garbage:
        tenantry.authorize("not-a-token", org.org_id, "site:publish")
    with pytest.raises(Invalid) as pattern:
        tenantry.authorize(org.member, org.org_id, "site:*")
    with pytest.raises(Conflict) as ahead:
        tenantry.authorize(org.member, org.org_id, "site:publish", min_epoch=scene.epoch + 100)
    with pytest.raises(Forbidden) as forbidden:
        tenantry.create_role(org.member, org.org_id, "Mine", ["site:read"])
    with pytest.raises(NotFound) as missing:
        tenantry.request(
            "GET", f"/v1/organisations/{org.org_id}/roles/rol_missing", token=org.owner
        )

    assert (garbage.value.status, garbage.value.code) == (401, "invalid_token")
    assert garbage.value.request_id
    assert (pattern.value.status, pattern.value.code) == (422, "invalid_permission")
    assert (ahead.value.status, ahead.value.code) == (409, "epoch_not_reached")
    assert ahead.value.body["epoch"] == scene.epoch
    assert forbidden.value.status == 403
    assert missing.value.status == 404
    assert missing.value.body["status"] == 404


def test_an_access_write_returns_the_epoch_that_a_check_can_ask_for(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_organisation_with_a_member(server)
    role = tenantry.create_role(org.owner, org.org_id, "Editor", ["site:update"], scope="TEAM")
    team = tenantry.create_team(org.owner, org.org_id, "Web")

    joined = tenantry.add_team_member(org.owner, org.org_id, team.id, org.member_id, role.id)
    in_team = tenantry.authorize(
        org.member, org.org_id, "site:update", team_id=team.id, min_epoch=joined.epoch
    )
    org_wide = tenantry.authorize(org.member, org.org_id, "site:update", min_epoch=joined.epoch)

    assert (team.body["name"], joined.body["team_role"]) == ("Web", role.id)
    assert role.epoch < team.epoch < joined.epoch
    assert (in_team.allowed, in_team.epoch, in_team.team_ids) == (True, joined.epoch, (team.id,))
    assert (org_wide.allowed, org_wide.decisions[0].reason) == (False, "no_matching_permission")
    roles = tenantry.request("GET", f"/v1/organisations/{org.org_id}/roles", token=org.owner)
    assert [r["id"] for r in roles["items"]] == [role.id]


def test_the_async_client_answers_as_the_sync_one_does(
    server: Served, tenantry: TenantryClient
) -> None:
    scene = a_member_who_may_publish(server, tenantry)
    org = scene.org

    async def ask() -> tuple[Authorization, Authorization, str]:
        async with AsyncTenantryClient(server.base, trust_env=False, retries=FAST) as client:
            pair = await client.login(org.member_email, PASSWORD, organisation_id=org.org_id)
            allowed = await client.authorize(
                pair.access_token, org.org_id, "site:publish", explain=True
            )
            denied = await client.authorize(pair.access_token, org.org_id, "billing:manage")
            with pytest.raises(Unauthorized) as garbage:
                await client.me("not-a-token")
            return allowed, denied, garbage.value.code

    allowed, denied, code = asyncio.run(ask())

    assert allowed == tenantry.authorize(org.member, org.org_id, "site:publish", explain=True)
    assert (denied.allowed, denied.decisions[0].reason) == (False, "no_matching_permission")
    assert code == "invalid_token"


# --- retries, against a stub far side -------------------------------------------------------

AUTHORIZED = {
    "allowed": True,
    "decisions": [{"permission": "site:publish", "allowed": True, "reason": "granted"}],
    "user_id": "usr_1",
    "organisation_id": "org_1",
    "org_role": "MEMBER",
    "team_ids": [],
    "epoch": 3,
}
Answer = tuple[int, dict[str, Any], dict[str, str]]
UNAVAILABLE: Answer = (503, {"status": 503, "code": "store_unavailable", "detail": "try again"}, {})


@dataclass
class Stub:
    """An ASGI app that answers the scripted (status, body, headers) in turn (the last one
    from then on) and records the requests it got."""

    answers: list[Answer]
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.seen.append((scope["method"], scope["path"]))
        status, body, headers = self.answers[min(len(self.seen), len(self.answers)) - 1]
        payload = _json(body)
        media = b"application/problem+json" if status >= 400 else b"application/json"
        raw = [(b"content-type", media), *((k.encode(), v.encode()) for k, v in headers.items())]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_a_check_is_retried_after_a_503_and_answers() -> None:
    stub = Stub([UNAVAILABLE, (200, AUTHORIZED, {})])
    with (
        serving_in_thread(stub) as base,
        TenantryClient(base, trust_env=False, retries=FAST) as client,
    ):
        answer = client.authorize("token", "org_1", "site:publish")

    assert (answer.allowed, answer.epoch) == (True, 3)
    assert stub.seen == [("POST", "/v1/authorize")] * 2


def test_503s_past_the_retries_raise_unavailable() -> None:
    stub = Stub([UNAVAILABLE])
    with (
        serving_in_thread(stub) as base,
        TenantryClient(base, trust_env=False, retries=FAST) as client,
    ):
        with pytest.raises(Unavailable) as check:
            client.authorize("token", "org_1", "site:publish")
        with pytest.raises(Unavailable):
            client.create_role("token", "org_1", "Publisher", ["site:*"])  # a POST: never retried

    assert (check.value.status, check.value.code) == (503, "store_unavailable")
    assert stub.seen == [("POST", "/v1/authorize")] * 3 + [
        ("POST", "/v1/organisations/org_1/roles")
    ]


def test_a_4xx_is_never_retried() -> None:
    limited = (
        429,
        {"status": 429, "code": "too_many_requests", "detail": "wait"},
        {"Retry-After": "7"},
    )
    stub = Stub([limited, (200, AUTHORIZED, {})])
    with (
        serving_in_thread(stub) as base,
        TenantryClient(base, trust_env=False, retries=FAST) as client,
        pytest.raises(RateLimited) as refused,
    ):
        client.authorize("token", "org_1", "site:publish")

    assert (refused.value.code, refused.value.retry_after) == ("too_many_requests", 7)
    assert len(stub.seen) == 1


def test_the_async_client_retries_a_503_too() -> None:
    stub = Stub([UNAVAILABLE, UNAVAILABLE, (200, AUTHORIZED, {})])

    async def ask(base: str) -> Authorization:
        async with AsyncTenantryClient(base, trust_env=False, retries=FAST) as client:
            return await client.authorize("token", "org_1", "site:publish")

    with serving_in_thread(stub) as base:
        answer = asyncio.run(ask(base))

    assert answer.allowed
    assert len(stub.seen) == 3


def test_a_tenantry_nobody_answers_at_is_unavailable_after_the_retries() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with TenantryClient(closed, trust_env=False, retries=FAST) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable) as check:
            client.authorize("token", "org_1", "site:publish")

    assert check.value.code == "unreachable"
    assert time.monotonic() - started < 2  # connection refused, short backoff: no long wait
