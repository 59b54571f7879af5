"""`POST /v1/authorize` with the tokens of a trusted external issuer: a Cognito user pool
played by a real JWKS server on loopback (`tests.jwks_server`), Cognito-shaped tokens signed
in the test with keys it publishes, and tenantry configured through TENANTRY_TRUSTED_ISSUERS.

Every case looks at the HTTP answer, at how often the pool's JWKS was fetched, and at what
the store holds (identity links, audit events). The key sets' clock is the test clock, so
TTLs and refetch intervals pass by advancing it. The last cases run a real `tenantry serve`
that reads the setting from its environment, and the `tenantry identity` commands.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.audit import ActorType, AuditEvent, EventType, Outcome
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.identities import service as identities
from tenantry.identities.ports import IdentityLink, LinkMethod
from tenantry.runner import Runner
from tenantry.tokens.compact import base64url
from tenantry.tokens.jwks import DEFAULT_REFETCH_INTERVAL_SECONDS, DEFAULT_TTL_SECONDS
from tests.access_builders import (
    answer,
    denials,
    denied,
    details,
    epoch_of,
    granted,
    remove_member,
    role_path,
    stored_epoch,
)
from tests.concurrency.racing import race_requests
from tests.harness import (
    Account,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    bearer,
    build_tenantry,
    test_settings,
)
from tests.integration.account_checks import audit_events_of, unverified_account
from tests.integration.test_authorize import check, member_with_role
from tests.integration.test_cli import Cli, _logging_restored, environment
from tests.integration.test_cli_access import cli, json_of, refused
from tests.jwks_server import CognitoPool, IssuerKey, JwksServer, jwks_server
from tests.servers import (
    Served,
    an_organisation_with_a_member,
    http_client,
    ready,
    serving,
    store_target_for,
)
from tests.servers import environment as environment_of
from tests.smtp_server import SmtpServer

__all__ = ["_logging_restored", "cli", "environment", "jwks_server"]  # fixtures

PERMISSION = "site:publish"
PAST_INTERVAL = timedelta(seconds=DEFAULT_REFETCH_INTERVAL_SECONDS + 1)
PAST_TTL = timedelta(seconds=DEFAULT_TTL_SECONDS + 1)


@pytest.fixture(scope="module")
def pool_keys() -> list[IssuerKey]:
    """RSA keys for the module (making one takes a while): the pools' own, then a rotated-in
    one, then a stranger's."""
    return [IssuerKey.new(f"kid-{n}") for n in range(3)]


def a_pool(server: JwksServer, key: IssuerKey, token_use: str) -> CognitoPool:
    pool = CognitoPool(
        server,
        name=f"af-south-1_{secrets.token_hex(5)}",
        client_id=f"client{secrets.token_hex(6)}",
        key=key,
        token_use=token_use,
    )
    pool.publish(key)
    return pool


@pytest.fixture
def pool(jwks_server: JwksServer, pool_keys: list[IssuerKey]) -> CognitoPool:
    """The pool whose access tokens tenantry trusts (`client_id`, `token_use` access)."""
    return a_pool(jwks_server, pool_keys[0], "access")


@pytest.fixture
def id_pool(jwks_server: JwksServer, pool_keys: list[IssuerKey]) -> CognitoPool:
    """Another pool, trusted for its ID tokens (`aud`, `token_use` id)."""
    return a_pool(jwks_server, pool_keys[0], "id")


@pytest.fixture
def tenantry(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    pool: CognitoPool,
    id_pool: CognitoPool,
) -> Iterator[Tenantry]:
    """The suite's tenantry, trusting both pools; its key sets keep time by the test clock."""
    settings = test_settings(
        store_target, tmp_path, trusted_issuers=[pool.trusted(), id_pool.trusted()]
    )
    app = build_tenantry(settings, clock, smtp_server, monotonic=lambda: clock.now().timestamp())
    yield app
    app.close()


# --- a user of the pool, and what the store says about them ---------------------------------


@dataclass
class PoolUser:
    """A member of an organisation who signs in with the pool: `subject` is their `sub`."""

    account: Account
    org_id: str
    role_id: str
    subject: str

    @property
    def user_id(self) -> str:
        return self.account.user_id


def a_pool_user(api: Api) -> PoolUser:
    """A verified tenantry member holding a role "Site editor" (`site:publish`), whom the
    pool knows by the same email, not linked yet."""
    owner, org = api.owner_with_org()
    member, role_id = member_with_role(api, owner, "Site editor", [PERMISSION])
    return PoolUser(member, org["id"], role_id, str(uuid.uuid4()))


def token_for(
    api: Api,
    pool: CognitoPool,
    subject: str,
    *,
    org_id: str | None,
    email: str | None,
    **options: Any,
) -> str:
    """A token of the pool, issued now by the test clock, signed with the pool's key."""
    signing = {
        name: options.pop(name) for name in ("key", "algorithm", "headers") if name in options
    }
    issued_at = api.tenantry.clock.now().timestamp() + options.pop("issued_in", 0)
    claims = pool.claims(subject, issued_at=issued_at, org_id=org_id, email=email, **options)
    return pool.sign(claims, **signing)


def their_token(api: Api, pool: CognitoPool, user: PoolUser, **options: Any) -> str:
    options.setdefault("org_id", user.org_id)
    options.setdefault("email", user.account.email)
    return token_for(api, pool, user.subject, **options)


def links_of(api: Api, user_id: str) -> list[IdentityLink]:
    with api.tenantry.store.unit_of_work(user_id=user_id) as uow:
        return uow.identity_links.list(user_id=user_id, limit=100)


def link_of(api: Api, pool: CognitoPool, subject: str) -> IdentityLink | None:
    with api.tenantry.store.unit_of_work() as uow:
        return uow.identity_links.get(pool.issuer, subject)


def link_events(target: StoreTarget, user_id: str) -> list[AuditEvent]:
    """The identity.link and identity.unlink events about `user_id`, oldest first."""
    found = [
        event
        for action in ("identity.link", "identity.unlink")
        for event in audit_events(target, org_id=None, action=action)
        if event.resource_id == user_id
    ]
    return sorted(found, key=lambda event: (event.occurred_at, event.action))


def refusal_of(target: StoreTarget, response: Any) -> tuple[str, Outcome, str | None, Any]:
    [event] = audit_events_of(target, response)
    return (event.action, event.outcome, event.reason, event.details)


def allowed_answer(user: PoolUser, api: Api) -> dict[str, Any]:
    return answer(
        user.user_id,
        user.org_id,
        granted(PERMISSION, PERMISSION, role_path(user.role_id, "Site editor")),
        allowed=True,
        org_role="MEMBER",
        epoch=stored_epoch(api.tenantry, user.org_id),
    )


@contextmanager
def another_tenantry(
    target: StoreTarget,
    folder: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    *trusted: dict[str, Any],
) -> Iterator[Api]:
    """The HTTP API of a second tenantry on the same store, trusting `trusted` instead."""
    settings = test_settings(target, folder, trusted_issuers=list(trusted))
    other = build_tenantry(settings, clock, smtp_server, monotonic=lambda: clock.now().timestamp())
    try:
        yield Api(other, Mailbox(other, smtp_server))
    finally:
        other.close()


def operator_links(tenantry: Tenantry, pool: CognitoPool, user: PoolUser) -> IdentityLink:
    """What `tenantry identity link` runs, in this process."""
    return Runner(tenantry, principal=SYSTEM)(
        lambda uow: identities.link_identity(
            uow,
            tenantry.deps,
            SYSTEM,
            tenantry.issuers,
            issuer=pool.issuer,
            subject=user.subject,
            user_ref=user.user_id,
        )
    )


# --- the way in -------------------------------------------------------------------------------


def test_a_pool_token_is_decided_as_the_linked_member_and_the_keys_are_fetched_once(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    token = their_token(api, pool, user)

    first = check(api, token, user.org_id, PERMISSION, explain=True)
    second = check(api, token, user.org_id, PERMISSION, explain=True)

    for response in (first, second):
        assert response.status_code == 200, response.text
        assert response.json() == allowed_answer(user, api)
    assert pool.fetches == 1  # the second check verified with the keys kept in memory
    assert [link.subject for link in links_of(api, user.user_id)] == [user.subject]
    assert denials(store_target, user.org_id, user.user_id) == []


def test_an_id_token_is_checked_against_its_audience(
    api: Api, id_pool: CognitoPool, pool: CognitoPool
) -> None:
    user = a_pool_user(api)

    response = check(api, their_token(api, id_pool, user), user.org_id, PERMISSION, explain=True)

    assert response.status_code == 200, response.text
    assert response.json() == allowed_answer(user, api)
    assert (id_pool.fetches, pool.fetches) == (1, 0)


def test_the_first_use_links_the_subject_to_the_user_of_its_verified_email(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    # Cognito sends `email_verified` as the string "true" in some tokens, a boolean in others.
    as_string = their_token(api, pool, user)
    as_boolean = their_token(api, pool, user, email_verified=True)

    answers = [check(api, token, user.org_id, PERMISSION) for token in (as_string, as_boolean)]

    assert [response.status_code for response in answers] == [200, 200]
    assert [response.json()["allowed"] for response in answers] == [True, True]
    now = api.tenantry.clock.now()
    assert links_of(api, user.user_id) == [
        IdentityLink(pool.issuer, user.subject, user.user_id, LinkMethod.VERIFIED_EMAIL, now)
    ]
    [event] = link_events(store_target, user.user_id)  # linked once, on the first use
    assert (event.event_type, event.action, event.outcome) == (
        EventType.USER_MANAGEMENT,
        "identity.link",
        Outcome.SUCCESS,
    )
    assert (event.actor_id, event.actor_type, event.resource_type) == (
        user.user_id,
        ActorType.USER,
        "user",
    )
    assert event.details == {
        "issuer": pool.issuer,
        "subject": user.subject,
        "method": "verified_email",
    }
    assert pool.fetches == 1


def test_once_linked_the_subject_is_the_user_whatever_email_it_carries_later(
    api: Api, pool: CognitoPool
) -> None:
    user = a_pool_user(api)
    assert check(api, their_token(api, pool, user), user.org_id, PERMISSION).status_code == 200

    later = their_token(api, pool, user, email="renamed@example.com", email_verified="false")
    response = check(api, later, user.org_id, PERMISSION)

    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == user.user_id


def test_two_first_uses_at_once_link_the_subject_once(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    token = their_token(api, pool, user)
    body = {"organisation_id": user.org_id, "permission": PERMISSION}

    answers = race_requests(
        api.client.app,
        [lambda client: client.post("/v1/authorize", json=body, headers=bearer(token))] * 6,
    )

    assert [(r.status_code, r.json()["allowed"]) for r in answers] == [(200, True)] * 6
    assert [link.subject for link in links_of(api, user.user_id)] == [user.subject]
    assert len(link_events(store_target, user.user_id)) == 1


def unlinkable_claims(api: Api, case: str) -> dict[str, Any]:
    """What makes a pool user's token link to no one, by case."""
    if case == "tenantry email not verified":
        # A tenantry account whose address nobody proved: anyone could have made it.
        return {"email": unverified_account(api)[0]}
    by_case: dict[str, dict[str, Any]] = {
        "email not verified": {"email_verified": "false"},
        "no such user": {"email": "nobody-here@example.com"},
        "no email": {"email": None},
    }
    return by_case[case]


@pytest.mark.parametrize(
    "case", ["email not verified", "no such user", "tenantry email not verified", "no email"]
)
def test_a_subject_that_cannot_be_linked_is_401_identity_not_linked(
    api: Api, pool: CognitoPool, store_target: StoreTarget, case: str
) -> None:
    user = a_pool_user(api)
    claims = unlinkable_claims(api, case)

    response = check(api, their_token(api, pool, user, **claims), user.org_id, PERMISSION)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "identity_not_linked"
    assert link_of(api, pool, user.subject) is None
    assert refusal_of(store_target, response) == (
        "auth.token",
        Outcome.FAILURE,
        "identity_not_linked",
        {"issuer": pool.issuer, "subject": user.subject},
    )
    assert link_events(store_target, user.user_id) == []
    assert pool.fetches == 1  # the token was verified before anything was looked up


def test_an_issuer_that_does_not_link_by_email_takes_only_links_made_for_it(
    api: Api,
    pool: CognitoPool,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
) -> None:
    user = a_pool_user(api)
    token = their_token(api, pool, user)
    strict = pool.trusted(link_verified_email=False)

    with another_tenantry(store_target, tmp_path, clock, smtp_server, strict) as other:
        unlinked = check(other, token, user.org_id, PERMISSION)
        operator_links(other.tenantry, pool, user)
        linked = check(other, token, user.org_id, PERMISSION)

    assert unlinked.status_code == 401, unlinked.text
    assert unlinked.json()["code"] == "identity_not_linked"
    assert linked.status_code == 200, linked.text
    assert linked.json()["allowed"] is True
    assert [link.method for link in links_of(api, user.user_id)] == [LinkMethod.OPERATOR]


# --- the issuer's keys ------------------------------------------------------------------------


def test_an_unknown_kid_fetches_once_and_a_rotated_in_key_is_accepted(
    api: Api, clock: TestClock, pool: CognitoPool, pool_keys: list[IssuerKey]
) -> None:
    user = a_pool_user(api)
    assert check(api, their_token(api, pool, user), user.org_id, PERMISSION).status_code == 200
    rotated_in = pool_keys[1]
    pool.publish(pool.key, rotated_in)
    clock.advance(PAST_INTERVAL)

    new_key = their_token(api, pool, user, key=rotated_in)
    answers = [
        check(api, token, user.org_id, PERMISSION, explain=True)
        for token in (new_key, their_token(api, pool, user))
    ]

    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json() == allowed_answer(user, api)
    assert pool.fetches == 2  # the first check, and the one refetch for the new kid


def test_made_up_kids_cost_at_most_one_fetch_per_refetch_interval(
    api: Api,
    clock: TestClock,
    pool: CognitoPool,
    pool_keys: list[IssuerKey],
    store_target: StoreTarget,
) -> None:
    user = a_pool_user(api)
    stranger = pool_keys[2]

    def flood() -> list[Any]:
        made_up = [IssuerKey(f"made-up-{n}", stranger.private) for n in range(15)]
        return [
            check(api, their_token(api, pool, user, key=key), user.org_id, PERMISSION)
            for key in made_up
        ]

    first = flood()  # the first fetch: the pool publishes none of these kids
    within_the_interval = flood()
    clock.advance(PAST_INTERVAL)
    after_it = flood()

    for response in [*first, *within_the_interval, *after_it]:
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token"
    assert pool.fetches == 2
    assert link_of(api, pool, user.subject) is None
    assert refusal_of(store_target, first[0]) == (
        "auth.token",
        Outcome.FAILURE,
        "invalid_token",
        {"issuer": pool.issuer},
    )


def test_the_last_good_keys_verify_while_the_jwks_is_down(
    api: Api, clock: TestClock, pool: CognitoPool, jwks_server: JwksServer
) -> None:
    user = a_pool_user(api)
    assert check(api, their_token(api, pool, user), user.org_id, PERMISSION).status_code == 200
    jwks_server.failing = True

    statuses: list[tuple[int, Any]] = []
    for _ in range(3):  # past the TTL, then twice past the refetch interval
        clock.advance(PAST_TTL if not statuses else PAST_INTERVAL)
        for _ in range(2):
            response = check(api, their_token(api, pool, user), user.org_id, PERMISSION)
            statuses.append((response.status_code, response.json().get("allowed")))

    assert statuses == [(200, True)] * 6
    assert pool.fetches == 1 + 3  # one failed fetch each time the interval had passed
    jwks_server.failing = False
    clock.advance(PAST_INTERVAL)
    assert check(api, their_token(api, pool, user), user.org_id, PERMISSION).status_code == 200
    assert pool.fetches == 5


def test_keys_never_fetched_and_a_jwks_that_is_down_is_503(
    api: Api,
    clock: TestClock,
    pool: CognitoPool,
    jwks_server: JwksServer,
    store_target: StoreTarget,
) -> None:
    user = a_pool_user(api)
    jwks_server.failing = True

    down = check(api, their_token(api, pool, user), user.org_id, PERMISSION)
    again = check(api, their_token(api, pool, user), user.org_id, PERMISSION)

    for response in (down, again):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "issuer_keys_unavailable"
    assert pool.fetches == 1  # the second refusal came within the refetch interval
    assert refusal_of(store_target, down) == (
        "auth.token",
        Outcome.FAILURE,
        "issuer_keys_unavailable",
        {"issuer": pool.issuer},
    )
    assert link_of(api, pool, user.subject) is None
    jwks_server.failing = False
    clock.advance(PAST_INTERVAL)
    recovered = check(api, their_token(api, pool, user), user.org_id, PERMISSION)
    assert recovered.status_code == 200, recovered.text
    assert pool.fetches == 2


# --- tokens refused ---------------------------------------------------------------------------


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS made by hand, for signatures PyJWT will not make."""
    signing_input = ".".join(base64url(json.dumps(part).encode()) for part in (header, claims))
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{base64url(signature)}"


@pytest.mark.parametrize(
    "case",
    [
        "another app client",
        "an id token for another audience",
        "an id token where access tokens are trusted",
        "no client_id",
    ],
)
def test_a_token_for_another_recipient_is_401_invalid_token(
    api: Api, pool: CognitoPool, id_pool: CognitoPool, store_target: StoreTarget, case: str
) -> None:
    user = a_pool_user(api)
    now = api.tenantry.clock.now().timestamp()
    claims = pool.claims(user.subject, issued_at=now, org_id=user.org_id, email=user.account.email)
    of_id_pool = id_pool.claims(
        user.subject, issued_at=now, org_id=user.org_id, email=user.account.email
    )
    tokens = {
        "another app client": pool.sign({**claims, "client_id": "another-client"}),
        "an id token for another audience": id_pool.sign({**of_id_pool, "aud": "another-client"}),
        "an id token where access tokens are trusted": pool.sign({**claims, "token_use": "id"}),
        "no client_id": pool.sign({k: v for k, v in claims.items() if k != "client_id"}),
    }

    response = check(api, tokens[case], user.org_id, PERMISSION)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert refusal_of(store_target, response)[2] == "invalid_token"
    assert link_of(api, pool, user.subject) is None
    assert link_of(api, id_pool, user.subject) is None


@pytest.mark.parametrize("case", ["HS256 keyed with the public key", "none", "PS256"])
def test_an_algorithm_the_issuer_is_not_trusted_for_is_401_and_fetches_nothing(
    api: Api, pool: CognitoPool, case: str
) -> None:
    user = a_pool_user(api)
    now = api.tenantry.clock.now().timestamp()
    claims = pool.claims(user.subject, issued_at=now, org_id=user.org_id, email=user.account.email)
    pem = pool.key.public_pem  # what anyone can read from the JWKS

    def hs256(signing_input: bytes) -> bytes:
        return hmac.new(pem, signing_input, hashlib.sha256).digest()

    tokens = {
        "HS256 keyed with the public key": compact(
            {"alg": "HS256", "kid": pool.key.kid, "typ": "JWT"}, claims, hs256
        ),
        "none": compact({"alg": "none", "kid": pool.key.kid}, claims),
        # A real signature by the pool's key, with an algorithm the issuer is not trusted for.
        "PS256": pool.sign(claims, algorithm="PS256"),
    }

    response = check(api, tokens[case], user.org_id, PERMISSION)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert pool.fetches == 0
    assert link_of(api, pool, user.subject) is None


@pytest.mark.parametrize("header", ["jku", "jwk", "x5u", "x5c"])
def test_a_header_that_points_at_keys_is_401_and_never_followed(
    api: Api,
    pool: CognitoPool,
    pool_keys: list[IssuerKey],
    jwks_server: JwksServer,
    header: str,
) -> None:
    user = a_pool_user(api)
    attacker = pool_keys[2]
    their_keys = jwks_server.publish("/attacker/jwks.json", attacker)
    pointing: dict[str, Any] = {
        "jku": their_keys,
        "jwk": attacker.public_jwk,
        "x5u": jwks_server.base + "/attacker/cert.pem",
        "x5c": ["MIIB"],
    }
    signed_by_them = their_token(api, pool, user, key=attacker, headers={header: pointing[header]})
    signed_by_the_pool = their_token(api, pool, user, headers={header: pointing[header]})

    answers = [check(api, t, user.org_id, PERMISSION) for t in (signed_by_them, signed_by_the_pool)]

    for response in answers:
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token"
    assert jwks_server.requests("/attacker/jwks.json") == 0
    assert jwks_server.requests("/attacker/cert.pem") == 0
    assert pool.fetches == 0
    assert link_of(api, pool, user.subject) is None


def test_an_expired_token_is_401_token_expired_after_the_clock_skew(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    # Issued an hour and a bit ago, for an hour: expired 10 s ago, then 31 s ago.
    within_skew = their_token(api, pool, user, issued_in=-3610)
    beyond_it = their_token(api, pool, user, issued_in=-3631)

    tolerated = check(api, within_skew, user.org_id, PERMISSION)
    expired = check(api, beyond_it, user.org_id, PERMISSION)

    assert tolerated.status_code == 200, tolerated.text
    assert expired.status_code == 401, expired.text
    assert expired.json()["code"] == "token_expired"
    assert refusal_of(store_target, expired)[2] == "token_expired"


def test_a_token_issued_in_the_future_is_401_invalid_token(api: Api, pool: CognitoPool) -> None:
    user = a_pool_user(api)

    response = check(api, their_token(api, pool, user, issued_in=60), user.org_id, PERMISSION)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"


def test_a_token_of_an_issuer_not_trusted_goes_tenantrys_own_way(
    api: Api, jwks_server: JwksServer, pool_keys: list[IssuerKey], store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    untrusted = a_pool(jwks_server, pool_keys[0], "access")  # served, but not in the setting

    response = check(api, their_token(api, untrusted, user), user.org_id, PERMISSION)
    own = check(api, user.account, user.org_id, PERMISSION)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert refusal_of(store_target, response) == (
        "auth.token",
        Outcome.FAILURE,
        "invalid_token",
        {},
    )
    assert untrusted.fetches == 0
    assert own.status_code == 200, own.text  # tenantry's own tokens are as they were
    assert own.json()["allowed"] is True


def test_the_rest_of_the_api_takes_only_tenantrys_own_tokens(api: Api, pool: CognitoPool) -> None:
    user = a_pool_user(api)
    token = their_token(api, pool, user)
    assert check(api, token, user.org_id, PERMISSION).status_code == 200  # linked, and good

    me = api.client.get("/v1/me", headers=bearer(token))
    members = api.client.get(f"/v1/organisations/{user.org_id}/members", headers=bearer(token))

    for response in (me, members):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token"


# --- decisions, as for tenantry's own tokens --------------------------------------------------


def test_a_token_for_another_organisation_is_answered_org_mismatch(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)
    _, elsewhere = api.owner_with_org()
    api.add_membership(user.account, elsewhere["id"], OrgRole.MEMBER)  # a member of both
    token = their_token(api, pool, user)  # its claim names the first

    response = check(api, token, elsewhere["id"], PERMISSION)

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        user.user_id, elsewhere["id"], denied(PERMISSION, "org_mismatch"), allowed=False
    )
    # On record in the token's organisation, naming the one asked about.
    assert denials(store_target, user.org_id, user.user_id) == [
        (PERMISSION, "org_mismatch", elsewhere["id"], details(elsewhere["id"]))
    ]
    assert denials(store_target, elsewhere["id"], user.user_id) == []


def test_a_token_with_no_organisation_claim_is_answered_org_mismatch(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    user = a_pool_user(api)

    response = check(api, their_token(api, pool, user, org_id=None), user.org_id, PERMISSION)

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        user.user_id, user.org_id, denied(PERMISSION, "org_mismatch"), allowed=False
    )
    assert denials(store_target, None, user.user_id) == [
        (PERMISSION, "org_mismatch", user.org_id, details(user.org_id))
    ]


def test_an_organisation_claim_that_is_no_id_is_401_invalid_token(
    api: Api, pool: CognitoPool
) -> None:
    user = a_pool_user(api)

    for claim in ["org_" + "x" * 60, 42]:
        token = their_token(api, pool, user, org_id=claim)
        response = check(api, token, user.org_id, PERMISSION)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token"


def test_a_removed_member_is_answered_membership_inactive(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member, role_id = member_with_role(api, owner, "Site editor", [PERMISSION])
    user = PoolUser(member, org["id"], role_id, str(uuid.uuid4()))
    assert check(api, their_token(api, pool, user), org["id"], PERMISSION).status_code == 200

    removed = remove_member(api, owner, member.user_id)
    response = check(api, their_token(api, pool, user), org["id"], PERMISSION)

    assert removed.status_code == 204, removed.text
    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        denied(PERMISSION, "membership_inactive"),
        allowed=False,
        epoch=epoch_of(removed),
    )
    assert denials(store_target, org["id"], member.user_id) == [
        (PERMISSION, "membership_inactive", org["id"], details(org["id"]))
    ]


def test_a_linked_user_who_never_joined_the_organisation_is_answered_not_a_member(
    api: Api, pool: CognitoPool, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    outsider = api.verified_account()
    subject = str(uuid.uuid4())
    # Unlike tenantry, the pool may name any organisation: the claim is not a membership.
    token = token_for(api, pool, subject, org_id=org["id"], email=outsider.email)

    response = check(api, token, org["id"], PERMISSION)

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        outsider.user_id,
        org["id"],
        denied(PERMISSION, "not_a_member"),
        allowed=False,
        epoch=stored_epoch(api.tenantry, org["id"]),
    )
    assert denials(store_target, org["id"], outsider.user_id) == [
        (PERMISSION, "not_a_member", org["id"], details(org["id"]))
    ]


# --- the operator's commands ------------------------------------------------------------------


def test_the_operator_links_lists_and_unlinks_a_subject(
    api: Api,
    pool: CognitoPool,
    cli: Cli,
    store_target: StoreTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANTRY_TRUSTED_ISSUERS", json.dumps([pool.trusted()]))
    user = a_pool_user(api)
    # The pool knows the user by another address: only the operator can link them.
    token = their_token(api, pool, user, email=f"other-{user.account.email}")
    assert check(api, token, user.org_id, PERMISSION).json()["code"] == "identity_not_linked"
    link = ("--issuer", pool.issuer, "--subject", user.subject)

    linked = cli.ok("identity", "link", *link, "--user", user.account.email)
    allowed = check(api, token, user.org_id, PERMISSION)
    listed = json_of(cli, "identity", "list", "--user", user.user_id)
    everyone = json_of(cli, "identity", "list")
    table = cli.ok("identity", "list", "--user", user.account.email)
    twice = refused(cli, "identity", "link", *link, "--user", user.user_id)
    unlinked = cli.ok("identity", "unlink", *link)
    refused_after = check(api, token, user.org_id, PERMISSION)
    gone = refused(cli, "identity", "unlink", *link)

    assert linked == f"linked {user.subject} of {pool.issuer} to {user.user_id}"
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allowed"] is True
    [shown] = listed["items"]
    assert {k: v for k, v in shown.items() if k != "created_at"} == {
        "issuer": pool.issuer,
        "subject": user.subject,
        "user_id": user.user_id,
        "method": "operator",
    }
    assert listed["next_cursor"] is None
    assert shown in everyone["items"]
    assert table.split("┃")[1:6] == [" issuer ", " subject ", " user id ", " method ", " linked "]
    assert "│ operator │" in table
    assert "identity_already_linked" in twice.stderr
    assert unlinked == f"unlinked {user.subject} of {pool.issuer} from {user.user_id}"
    assert refused_after.json()["code"] == "identity_not_linked"
    assert "identity_link_not_found" in gone.stderr
    assert link_of(api, pool, user.subject) is None
    operator = {"issuer": pool.issuer, "subject": user.subject, "method": "operator"}
    events = link_events(store_target, user.user_id)
    assert [(e.action, e.actor_type, e.actor_id, e.details) for e in events] == [
        ("identity.link", ActorType.SYSTEM, SYSTEM.user_id, operator),
        ("identity.unlink", ActorType.SYSTEM, SYSTEM.user_id, operator),
    ]


def test_the_operator_may_link_only_to_a_trusted_issuer_and_an_existing_user(
    api: Api, pool: CognitoPool, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_TRUSTED_ISSUERS", json.dumps([pool.trusted()]))
    user = a_pool_user(api)
    subject = ("--subject", user.subject)

    untrusted = refused(
        cli, "identity", "link", "--issuer", pool.issuer + "x", *subject, "--user", user.user_id
    )
    no_user = refused(
        cli, "identity", "link", "--issuer", pool.issuer, *subject, "--user", "nobody@example.com"
    )

    assert "issuer_not_trusted" in untrusted.stderr
    assert "user_not_found" in no_user.stderr
    assert link_of(api, pool, user.subject) is None


@pytest.mark.parametrize(
    ("issuers", "named", "said"),
    [
        ([{"algorithms": ["HS256"]}], "TENANTRY_TRUSTED_ISSUERS_0_ALGORITHMS", "HS256 refused"),
        (
            [{"algorithms": ["RS256", "none"]}],
            "TENANTRY_TRUSTED_ISSUERS_0_ALGORITHMS",
            "none refused",
        ),
        ([{"audience": "app"}], "TENANTRY_TRUSTED_ISSUERS_0", "exactly one"),
        ([{"client_id": None}], "TENANTRY_TRUSTED_ISSUERS_0", "exactly one"),
        ([{"issuer": "http://cognito.example/pool"}], "TENANTRY_TRUSTED_ISSUERS_0_ISSUER", "https"),
        ([{"jwks_url": "ftp://127.0.0.1/jwks"}], "TENANTRY_TRUSTED_ISSUERS_0_JWKS_URL", "https"),
        ([{"audiance": "typo"}], "TENANTRY_TRUSTED_ISSUERS_0_AUDIANCE", "Extra inputs"),
        ([{}, {}], "TENANTRY_TRUSTED_ISSUERS", "twice"),
        ("/nowhere/issuers.json", "TENANTRY_TRUSTED_ISSUERS", "readable JSON file"),
    ],
)
def test_a_bad_trusted_issuer_setting_stops_the_server_naming_the_field(
    environment: Path, issuers: Any, named: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cognito = "https://cognito-idp.af-south-1.amazonaws.com/af-south-1_Pool1"
    base = {"issuer": cognito, "jwks_url": f"{cognito}/.well-known/jwks.json", "client_id": "app"}
    value = issuers if isinstance(issuers, str) else json.dumps([base | i for i in issuers])
    monkeypatch.setenv("TENANTRY_TRUSTED_ISSUERS", value)

    result = Cli("sqlite:///unused.db", environment / "mail")("serve", "--port", "1")

    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert f"error invalid_setting: {named}:" in output
    assert said in output
    assert "Traceback" not in output


# --- a real `tenantry serve`, configured through its environment ------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, CognitoPool]]:
    """A `tenantry serve` whose TENANTRY_TRUSTED_ISSUERS is the path of a JSON file naming a
    pool, and that pool on a JWKS server of its own."""
    folder = tmp_path_factory.mktemp("tenantry")
    target = store_target_for(request, folder)
    settings = test_settings(target, folder)
    with ExitStack() as stack:
        server = JwksServer()
        stack.callback(server.close)
        pool = a_pool(server, IssuerKey.new("kid-served"), "access")
        issuers = folder / "trusted-issuers.json"
        issuers.write_text(json.dumps([pool.trusted()]))
        tenantry = bootstrap(settings)
        stack.callback(tenantry.close)
        prepare_to_serve(tenantry)
        variables = environment_of(settings) | {"TENANTRY_TRUSTED_ISSUERS": str(issuers)}
        started = stack.enter_context(serving(variables, folder / "server"))
        yield Served(ready(*started), target, tenantry), pool


def test_a_real_server_takes_pool_tokens_from_the_setting_in_its_environment(
    served_pool: tuple[Served, CognitoPool],
) -> None:
    served, pool = served_pool
    org = an_organisation_with_a_member(served)
    subject, fetched_before = str(uuid.uuid4()), pool.fetches
    claims = pool.claims(subject, issued_at=time.time(), org_id=org.org_id, email=org.member_email)
    jku = {"jku": pool.server.publish("/attacker/jwks.json", pool.key)}
    body = {"organisation_id": org.org_id, "permission": "organisation:read"}

    with http_client(served.base) as client:
        answers = [
            client.post("/v1/authorize", json=body, headers=bearer(pool.sign(claims)))
            for _ in range(2)
        ]
        pointed = client.post(
            "/v1/authorize", json=body, headers=bearer(pool.sign(claims, headers=jku))
        )

    for response in answers:
        assert response.status_code == 200, response.text
        assert (response.json()["allowed"], response.json()["user_id"]) == (True, org.member_id)
    assert pool.fetches == fetched_before + 1
    assert pointed.status_code == 401, pointed.text
    assert pointed.json()["code"] == "invalid_token"
    assert pool.server.requests("/attacker/jwks.json") == 0
    with served.tenantry.store.unit_of_work() as uow:
        link = uow.identity_links.get(pool.issuer, subject)
    assert link is not None
    assert (link.user_id, link.method) == (org.member_id, LinkMethod.VERIFIED_EMAIL)
