"""The JWT attack corpus (`tenantry.testing.attacks`, RFC 8725) against each entry point that
takes a bearer token: the HTTP API (an organisation's route and `POST /v1/authorize`), the
FastAPI dependency verifying locally, and the Lambda authorizer. Every attack is refused
(401 with its code, or Deny for a revoked token at the authorizer), each refusal leaves one
`auth.token` FAILURE event and nothing else, the `jku`/`x5u` lure is never asked, and the
controls (a token just inside the clock leeway either side) are accepted everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenantry.aws.authorizer import LambdaAuthorizer, Unauthorized
from tenantry.aws.routes import RouteMap
from tenantry.domain.audit import Outcome
from tenantry.fastapi import LocalVerifier
from tenantry.testing.attacks import (
    ACCEPTED,
    INVALID,
    REVOKED,
    Attack,
    bearer_routes,
    forged,
    re_signed,
)
from tenantry.testing.issuer import JwksServer
from tenantry.testing.wire import new_request_id
from tests.aws_events import LambdaContext, rest_token_event
from tests.harness import (
    ON_EVERY_STORE_USED,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    audit_head,
    bearer,
)
from tests.integration.test_access_tokens import resigned
from tests.integration.test_fastapi_dependency import in_org
from tests.integration.test_fastapi_dependency_tokens import (  # noqa: F401 (fixture)
    AUTHORIZE,
    FarTenantry,
    far,
    product,
)
from tests.servers import free_port
from tests.smtp_server import HOST

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE_USED]

ROUTES = RouteMap.parse(
    {"GET /orgs/{org}/things": {"permission": "organisation:read", "org_from": "org"}}
)


@dataclass(frozen=True)
class Aimed:
    """An attack token, and the organisation its holder would reach with it."""

    attack: Attack
    org_id: str


@dataclass
class Corpus:
    aimed: list[Aimed]
    lure: JwksServer

    def refused(self) -> list[Aimed]:
        return [a for a in self.aimed if a.attack.refused_as != ACCEPTED]


@pytest.fixture
def corpus(api: Api, clock: TestClock) -> Iterator[Corpus]:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    jwks = api.client.get("/.well-known/jwks.json").json()

    def sign(header: str, claims: str) -> str:
        return resigned(api, member.access_token, lambda _h, _c: (header, claims))

    with JwksServer(HOST, free_port(), {"keys": []}) as lure:
        made = forged(member.access_token, jwks, lure_url=lure.url)
        made += re_signed(member.access_token, sign, now=int(clock.now().timestamp()))
        aimed = [Aimed(attack, org["id"]) for attack in made] + spent_tokens(api, owner, org["id"])
        yield Corpus(aimed, lure)
    assert lure.requests == 0, "a token's jku or x5u was followed"


def spent_tokens(api: Api, owner: Account, org_id: str) -> list[Aimed]:
    """Genuine tokens whose session, membership or organisation has ended, and a refresh
    token offered as an access token."""
    logged_out = api.member_of(org_id)
    assert api.client.post("/v1/auth/logout", headers=logged_out.auth).status_code == 204
    removed = api.member_of(org_id)
    path = f"/v1/organisations/{org_id}/members/{removed.user_id}"
    assert api.client.delete(path, headers=owner.auth).status_code == 204
    other_owner, other = api.owner_with_org()
    gone = api.client.delete(f"/v1/organisations/{other['id']}", headers=other_owner.auth)
    assert gone.status_code == 204, gone.text
    return [
        Aimed(Attack("an ended session's token", logged_out.access_token, REVOKED), org_id),
        Aimed(Attack("a removed member's token", removed.access_token, REVOKED), org_id),
        Aimed(
            Attack("a deleted organisation's token", other_owner.access_token, REVOKED), other["id"]
        ),
        Aimed(Attack("a refresh token as the bearer", logged_out.refresh_token, INVALID), org_id),
    ]


# What the decision points answer a genuine token whose session, membership or organisation
# ended: a decision, not a refusal of the question (docs/authorizer.md).
ENDED = frozenset({"token_revoked", "membership_inactive", "org_inactive"})


def expected_at_api(attack: Attack, method: str) -> set[str]:
    if attack.refused_as == ACCEPTED:
        return {"allowed"}
    if attack.refused_as == REVOKED and method == "POST":  # POST /v1/authorize decides
        return {f"denied {reason}" for reason in ENDED}
    return {f"401 {attack.refused_as}"}


def answered(response: Any) -> str:
    body = response.json()
    if response.status_code != 200:
        return f"{response.status_code} {body.get('code')}"
    if "decisions" not in body or body["allowed"]:
        return "allowed"
    return f"denied {body['decisions'][0]['reason']}"


def test_every_attack_token_is_refused_by_the_http_api_and_audited_once(
    api: Api, store_target: StoreTarget, corpus: Corpus
) -> None:
    wrong = []
    for aimed in corpus.aimed:
        attack, org_id = aimed.attack, aimed.org_id
        for method, path, body in bearer_routes(org_id):
            request_id = new_request_id()
            headers = {**bearer(attack.token), "X-Request-ID": request_id}
            got = answered(api.client.request(method, path, json=body, headers=headers))
            if got not in expected_at_api(attack, method):
                wrong.append(f"{attack.name}, {method} {path}: {got}")
                continue
            recorded = [
                (e.action, e.outcome)
                for chain in (None, org_id)
                for e in audit_events(store_target, org_id=chain, request_id=request_id)
            ]
            if got.startswith("401") and recorded != [("auth.token", Outcome.FAILURE)]:
                wrong.append(f"{attack.name}, {method} {path}: audited as {recorded}")
            if got.startswith("denied") and [o for _, o in recorded] != [Outcome.DENIED]:
                wrong.append(f"{attack.name}, {method} {path}: audited as {recorded}")
            if got == "allowed" and recorded:
                wrong.append(f"{attack.name}, {method} {path}: audited as {recorded}")
    assert not wrong, "\n".join(wrong)


def test_every_attack_token_is_refused_by_the_fastapi_dependency_before_tenantry_is_asked(
    api: Api,
    far: FarTenantry,  # noqa: F811 (the fixture)
    clock: TestClock,
    corpus: Corpus,
) -> None:
    verifier = LocalVerifier(far.base, clock=clock)  # the leeway's edge on the suite's clock
    audience = api.tenantry.settings.audience  # else `aud` is left to tenantry (documented)
    with TestClient(product(far.base, verify_locally=verifier, audience=audience)) as client:
        asked_before = far.seen[AUTHORIZE]
        answers = {
            a: client.get(in_org(a.org_id), headers=bearer(a.attack.token)) for a in corpus.aimed
        }
        ran = client.app.state.ran  # type: ignore[attr-defined]

    wrong = []
    for aimed, response in answers.items():
        attack, body = aimed.attack, response.json()
        got = "allowed" if response.status_code == 200 else f"{response.status_code} {body['code']}"
        expected = {ACCEPTED: "allowed", REVOKED: "403 permission_denied"}.get(
            attack.refused_as, f"401 {attack.refused_as}"
        )
        if got != expected or (got.startswith("403") and body["reason"] not in ENDED):
            wrong.append(f"{attack.name}: {got} {body.get('reason', '')}")
    assert not wrong, "\n".join(wrong)
    accepted = [a for a in corpus.aimed if a.attack.refused_as == ACCEPTED]
    assert len(ran) == len(accepted)
    # Only tokens that verify (the controls, and the genuine ended ones) reach tenantry.
    ended = [a for a in corpus.aimed if a.attack.refused_as == REVOKED]
    assert far.seen[AUTHORIZE] - asked_before == len(accepted) + len(ended)


def test_every_attack_token_is_unauthorized_or_denied_by_the_lambda_authorizer(
    api: Api, store_target: StoreTarget, corpus: Corpus
) -> None:
    authorizer = LambdaAuthorizer(api.tenantry, ROUTES)
    chains = {None, *(a.org_id for a in corpus.aimed)}
    marks = {chain: audit_head(store_target, chain) for chain in chains}
    wrong = []

    for aimed in corpus.aimed:
        attack = aimed.attack
        event = rest_token_event(attack.token, "GET", f"/orgs/{aimed.org_id}/things")
        try:
            answer = authorizer(event, LambdaContext())
        except Unauthorized:
            got = "unauthorized"
        else:
            [statement] = answer["policyDocument"]["Statement"]
            got = "allowed" if statement["Effect"] == "Allow" else "denied"
            if got == "denied" and answer["context"]["reason"] not in ENDED:
                got += " " + answer["context"]["reason"]
        expected = {ACCEPTED: "allowed", REVOKED: "denied"}.get(attack.refused_as, "unauthorized")
        if got != expected:
            wrong.append(f"{attack.name}: {got}")

    assert not wrong, "\n".join(wrong)
    recorded = [
        (e.action, e.outcome)
        for chain, mark in marks.items()
        for e in audit_events(store_target, org_id=chain, after_seq=mark)
    ]
    refused = [a for a in corpus.aimed if a.attack.refused_as not in {ACCEPTED, REVOKED}]
    ended = [a for a in corpus.aimed if a.attack.refused_as == REVOKED]
    assert sorted(recorded, key=str) == sorted(
        [("auth.token", Outcome.FAILURE)] * len(refused)
        + [("organisation:read", Outcome.DENIED)] * len(ended),
        key=str,
    )
