"""The bearer verified in the product before tenantry is asked (`require(..., client=...)`):
against tenantry's JWKS, fetched once and kept, with the checks tenantry itself makes. A
token that fails them is refused 401 and never reaches `POST /v1/authorize`.

tenantry here is `create_app` over the test's `tenantry` on a real HTTP port, counting the
requests that reach it: what "never reaches" means, observed where it would arrive. It runs
in this process (not `tenantry serve`) so that a key rotation reaches its JWKS at once
(`signer.reload()`); the other dependency suites use real `tenantry serve` processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.bootstrap import Tenantry
from tenantry.domain.model import SigningKey
from tenantry.fastapi import LocalVerifier, add_problem_handler, require
from tenantry.http.app import create_app
from tenantry.tokens.compact import base64url, read_compact
from tenantry.tokens.jwks import DEFAULT_REFETCH_INTERVAL_SECONDS
from tenantry.tokens.keys import PrivateKey, load_private_key
from tests.harness import Account, Api, bearer
from tests.integration.test_access_tokens import rotate
from tests.integration.test_fastapi_dependency import Guarded, client_made, in_org, tenantry_of
from tests.servers import free_port, serving_in_thread

JWKS = "GET /.well-known/jwks.json"
DISCOVERY = "GET /.well-known/openid-configuration"
AUTHORIZE = "POST /v1/authorize"


@dataclass
class Counted:
    """`app` mounted at `prefix`, counting the requests that reach it by `METHOD /path` (the
    path below the prefix)."""

    app: ASGIApp
    prefix: str
    seen: Counter[str] = field(default_factory=Counter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen[f"{scope['method']} {scope['path'].removeprefix(self.prefix)}"] += 1
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class FarTenantry:
    base: str
    seen: Counter[str]


@pytest.fixture
def far(api: Api) -> Iterator[FarTenantry]:
    # A URL of its own for each test's tenantry, as two deployments have: the process keeps
    # one verifier per URL, and a port can come round again.
    prefix = f"/tenantry-{secrets.token_hex(4)}"
    counted = Counted(Starlette(routes=[Mount(prefix, create_app(api.tenantry))]), prefix)
    with serving_in_thread(counted) as base:
        yield FarTenantry(base + prefix, counted.seen)


def product(tenantry_url: str, **options: Any) -> FastAPI:
    """A product whose route needs `organisation:read` in the organisation of its path, over
    HTTP at `tenantry_url`; `app.state.ran` lists the users the route ran for."""
    app = FastAPI(lifespan=client_made(tenantry_url))
    app.state.guard = require("organisation:read", client=tenantry_of, org_from="org_id", **options)
    app.state.ran = []
    add_problem_handler(app)

    @app.get("/orgs/{org_id}/guarded")
    async def guarded(request: Request, who: Guarded) -> dict[str, str]:
        request.app.state.ran.append(who.user_id)
        return {"user_id": who.user_id}

    return app


class Ticks:
    """A monotonic clock the test moves by hand (the key set's TTL and refetch interval)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- tokens tenantry did not sign as they are ------------------------------------------------


def signing_key(tenantry: Tenantry, kid: str) -> tuple[SigningKey, PrivateKey]:
    """tenantry's stored key `kid`, and its private half."""
    with tenantry.store.unit_of_work() as uow:
        [key] = [key for key in uow.signing_keys.list() if key.kid == kid]
    return key, load_private_key(key, tenantry.key_factory.cipher)


def re_signed(tenantry: Tenantry, token: str, header: dict[str, Any], **claims: Any) -> str:
    """`token` with `header` and `claims` changed, signed again by the very key of tenantry's
    that signed it: only the change can make it fail."""
    real = read_compact(token)
    key, private = signing_key(tenantry, real.header["kid"])
    headers = {**real.header, **header}
    return jwt.encode({**real.claims, **claims}, private, algorithm=key.alg, headers=headers)


def segment(part: dict[str, Any]) -> str:
    return base64url(json.dumps(part).encode())


def hmac_keyed_with_the_public_key(tenantry: Tenantry, token: str) -> str:
    """The old confusion: HS256, whose secret is the public key tenantry publishes."""
    real = read_compact(token)
    key, _ = signing_key(tenantry, real.header["kid"])
    pem = jwt.PyJWK(key.public_jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = f"{segment({**real.header, 'alg': 'HS256'})}.{segment(real.claims)}"
    return f"{signed}.{base64url(hmac.new(pem, signed.encode(), hashlib.sha256).digest())}"


def forgeries(tenantry: Tenantry, token: str) -> dict[str, str]:
    """`token` (a member's) made into tokens tenantry would refuse, by kind."""
    real = read_compact(token)
    header, claims = real.header, real.claims
    stranger = ec.generate_private_key(ec.SECP256R1())
    an_hour_ago = int(tenantry.clock.now().timestamp()) - 3600
    signature = token.rsplit(".", 1)[1]
    return {
        "another key, tenantry's kid": jwt.encode(claims, stranger, "ES256", headers=header),
        "a kid tenantry does not publish": jwt.encode(
            claims, stranger, "ES256", headers={**header, "kid": "key_madeup"}
        ),
        "HS256 keyed with the public key": hmac_keyed_with_the_public_key(tenantry, token),
        "alg none": f"{segment({**header, 'alg': 'none'})}.{segment(claims)}.",
        "typ JWT": re_signed(tenantry, token, {"typ": "JWT"}),
        "another issuer": re_signed(tenantry, token, {}, iss="https://elsewhere.example"),
        "expired": re_signed(
            tenantry, token, {}, exp=an_hour_ago, iat=an_hour_ago - 600, nbf=an_hour_ago - 600
        ),
        "claims changed": f"{segment(header)}.{segment({**claims, 'sub': 'usr_x'})}.{signature}",
        "not a JWT": "not-a-token",
    }


def test_a_token_tenantry_would_refuse_is_refused_here_and_tenantry_is_never_asked(
    api: Api, far: FarTenantry
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    forged = forgeries(api.tenantry, member.access_token)

    with TestClient(product(far.base)) as client:
        genuine = client.get(in_org(org["id"]), headers=member.auth)
        answers = {
            kind: client.get(in_org(org["id"]), headers=bearer(t)) for kind, t in forged.items()
        }
        ran = client.app.state.ran  # type: ignore[attr-defined]

    assert genuine.status_code == 200, genuine.text
    assert {kind: (a.status_code, a.json()["code"]) for kind, a in answers.items()} == {
        kind: (401, "token_expired" if kind == "expired" else "invalid_token") for kind in forged
    }
    assert {a.headers["WWW-Authenticate"] for a in answers.values()} == {
        'Bearer error="invalid_token"'
    }
    assert ran == [member.user_id]
    # Only the genuine token was asked about; the keys and the issuer were read once.
    assert far.seen == Counter({DISCOVERY: 1, JWKS: 1, AUTHORIZE: 1})


def test_one_fetch_of_tenantry_s_keys_serves_every_request_of_the_process(
    api: Api, far: FarTenantry
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    path = in_org(org["id"])

    # Two products of one process (two apps, two clients) ask the same tenantry.
    with TestClient(product(far.base)) as first, TestClient(product(far.base)) as second:
        answers = [
            client.get(path, headers=who.auth)
            for client in (first, second)
            for who in (owner, member, owner)
        ]

    assert [answer.status_code for answer in answers] == [200] * 6
    assert far.seen == Counter({DISCOVERY: 1, JWKS: 1, AUTHORIZE: 6})


def signed_in_again(api: Api, account: Account) -> str:
    response = api.login(account.email, account.password, org_id=account.org_id)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # it owns the key ring
def test_a_key_rotated_in_later_is_accepted_after_one_refetch(api: Api, far: FarTenantry) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    ticks = Ticks()
    verifier = LocalVerifier(far.base, monotonic=ticks)
    path = in_org(org["id"])

    with TestClient(product(far.base, verify_locally=verifier)) as client:
        before = client.get(path, headers=member.auth)
        promoted = rotate(api)  # NEXT becomes CURRENT: published before it signs
        by_promoted = signed_in_again(api, member)
        after_one = client.get(path, headers=bearer(by_promoted))
        fetched_by_then = far.seen[JWKS]
        fresh = rotate(api)  # CURRENT is now a key the product's set has never held
        ticks.advance(DEFAULT_REFETCH_INTERVAL_SECONDS)  # a while later
        by_fresh = signed_in_again(api, member)
        after_two = client.get(path, headers=bearer(by_fresh))

    assert [read_compact(t).header["kid"] for t in (by_promoted, by_fresh)] == [
        promoted.kid,
        fresh.kid,
    ]
    assert [r.status_code for r in (before, after_one, after_two)] == [200, 200, 200]
    assert fetched_by_then == 1
    assert far.seen == Counter({DISCOVERY: 1, JWKS: 2, AUTHORIZE: 3})


def test_with_no_keys_known_an_unreachable_tenantry_is_503_and_the_route_does_not_run() -> None:
    closed = f"http://127.0.0.1:{free_port()}/tenantry-{secrets.token_hex(4)}"
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"sub": "usr_x"}, stranger, "ES256", headers={"kid": "k", "typ": "at+jwt"})

    with TestClient(product(closed)) as client:
        answer = client.get(in_org("org_1"), headers=bearer(token))
        ran = client.app.state.ran  # type: ignore[attr-defined]

    assert (answer.status_code, answer.json()["code"]) == (503, "authorizer_unavailable")
    assert answer.headers["content-type"] == "application/problem+json"
    assert ran == []


def test_without_local_verification_tenantry_alone_judges_the_token(
    api: Api, far: FarTenantry
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    forged = forgeries(api.tenantry, member.access_token)["another key, tenantry's kid"]

    with TestClient(product(far.base, verify_locally=False)) as client:
        genuine = client.get(in_org(org["id"]), headers=member.auth)
        refused = client.get(in_org(org["id"]), headers=bearer(forged))

    assert genuine.status_code == 200, genuine.text
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
    assert far.seen == Counter({AUTHORIZE: 2})  # no keys fetched, both tokens asked about


def test_an_audience_the_product_names_is_checked_here_too(api: Api, far: FarTenantry) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    ours = api.tenantry.settings.audience

    with (
        TestClient(product(far.base, audience=ours)) as for_us,
        TestClient(product(far.base, audience="billing")) as for_billing,
    ):
        accepted = for_us.get(in_org(org["id"]), headers=member.auth)
        refused = for_billing.get(in_org(org["id"]), headers=member.auth)

    assert accepted.status_code == 200, accepted.text
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
    assert far.seen == Counter({DISCOVERY: 1, JWKS: 1, AUTHORIZE: 1})
