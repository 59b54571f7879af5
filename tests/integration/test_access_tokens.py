"""Access tokens as a relying party meets them over HTTP: the algorithm of a new key ring, an
Ed25519 ring, an EdDSA ring made before ES256 became the default, and tokens signed with
tenantry's own current key whose JSON two parsers could read differently.

Tokens are checked with joserfc against the published JWKS, as a relying party would. The
tests that read the whole key ring run on SQLite, on a database of their own: on PostgreSQL
the ring is shared by every test of the worker (see tests/integration/test_signer.py).
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from jwt.algorithms import get_default_algorithms

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import Outcome
from tenantry.domain.model import KeyState, SigningKey
from tenantry.edge import run_use_case
from tenantry.keys.service import rotate_signing_keys
from tenantry.tokens.keys import load_private_key
from tests.harness import (
    ON_EVERY_STORE_USED,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
)
from tests.integration.account_checks import assert_problem, audit_of, me
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE_USED]

# SQLite only, on a database of this test's own (see the module docstring).
owns_the_key_ring = pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)

OpenApi = Callable[..., Api]


@pytest.fixture
def open_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[OpenApi]:
    """Start tenantry on the test's store with these settings, as a deployment would."""
    opened: list[Tenantry] = []

    def open_(**settings: Any) -> Api:
        tenantry = build_tenantry(
            test_settings(store_target, tmp_path, **settings), clock, smtp_server
        )
        opened.append(tenantry)
        return Api(tenantry, Mailbox(tenantry, smtp_server))

    yield open_
    for tenantry in opened:
        tenantry.close()


def stored_keys(api: Api) -> list[SigningKey]:
    with api.tenantry.store.unit_of_work() as uow:
        return uow.signing_keys.list()


def published(api: Api) -> list[tuple[str, str, str]]:
    """`(kty, crv, alg)` of every key in the JWKS, in its order (CURRENT, NEXT, RETIRED)."""
    keys = api.client.get("/.well-known/jwks.json").json()["keys"]
    return [(key["kty"], key.get("crv", ""), key["alg"]) for key in keys]


def discovered_algorithms(api: Api) -> list[str]:
    discovery = api.client.get("/.well-known/openid-configuration").json()
    algorithms: list[str] = discovery["id_token_signing_alg_values_supported"]
    return algorithms


def verified_by_joserfc(
    api: Api, token: str, algorithms: list[str] | None = None
) -> jose_jwt.Token:
    """The token checked against the published JWKS; joserfc's own defaults without `algorithms`."""
    jwks = api.client.get("/.well-known/jwks.json").json()
    with warnings.catch_warnings():
        # RFC 9864 deprecates the name "EdDSA"; docs/tokens.md says why our Ed25519 keys keep it.
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=algorithms)
    jose_jwt.JWTClaimsRegistry(
        now=int(api.tenantry.clock.now().timestamp()),
        iss={"essential": True, "value": api.tenantry.settings.token_issuer},
        aud={"essential": True, "value": api.tenantry.settings.audience},
    ).validate(decoded.claims)
    return decoded


def alg_and_kid(token: str) -> tuple[str, str]:
    header = pyjwt.get_unverified_header(token)
    return header["alg"], header["kid"]


def log_in(api: Api, account: Account) -> str:
    response = api.login(account.email, account.password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def rotate(api: Api) -> SigningKey:
    """`tenantry keys rotate`, then this process reads the ring again at once."""
    tenantry = api.tenantry
    promoted = run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: rotate_signing_keys(
            uow, now=tenantry.clock.now(), factory=tenantry.key_factory
        ),
        clock=tenantry.clock,
    )
    tenantry.signer.reload()
    return promoted


# --- the algorithm of the key ring ---------------------------------------------------------


@owns_the_key_ring
def test_a_new_key_ring_is_es256_and_a_verifier_on_its_defaults_accepts_its_tokens(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()

    decoded = verified_by_joserfc(api, account.access_token)  # joserfc's recommended algorithms

    assert decoded.header["alg"] == "ES256"
    assert decoded.claims["sub"] == account.user_id
    assert published(api) == [("EC", "P-256", "ES256")] * 2
    assert discovered_algorithms(api) == ["ES256"]
    keys = stored_keys(api)
    assert sorted((key.state, key.alg) for key in keys) == [
        (KeyState.CURRENT, "ES256"),
        (KeyState.NEXT, "ES256"),
    ]
    [current] = [key for key in keys if key.state == KeyState.CURRENT]
    assert decoded.header["kid"] == current.kid
    [created] = audit_events(store_target, org_id=None, action="keys.create")
    assert (created.resource_id, created.outcome) == (current.kid, Outcome.SUCCESS)


@owns_the_key_ring
@pytest.mark.parametrize("setting", ["Ed25519", "EdDSA"])
def test_an_ed25519_ring_signs_and_publishes_its_keys_as_eddsa(
    open_api: OpenApi, setting: str
) -> None:
    api = open_api(signing_alg=setting)
    account = api.verified_account()

    decoded = verified_by_joserfc(api, account.access_token, algorithms=["EdDSA"])

    assert decoded.header["alg"] == "EdDSA"
    assert decoded.claims["sub"] == account.user_id
    assert me(api, account.access_token).status_code == 200
    assert published(api) == [("OKP", "Ed25519", "EdDSA")] * 2
    assert discovered_algorithms(api) == ["EdDSA"]
    assert {(key.alg, key.public_jwk["crv"]) for key in stored_keys(api)} == {("EdDSA", "Ed25519")}


@owns_the_key_ring
def test_an_eddsa_ring_from_before_the_es256_default_keeps_working_until_rotated_away(
    open_api: OpenApi,
) -> None:
    before = open_api(signing_alg="EdDSA")  # the default until now
    account = before.verified_account()
    eddsa_token = account.access_token
    ring_before = {key.kid: (key.alg, key.state) for key in stored_keys(before)}

    after = open_api()  # an upgraded deployment on the same database: ES256 by default

    assert me(after, eddsa_token).status_code == 200
    assert {key.kid: (key.alg, key.state) for key in stored_keys(after)} == ring_before
    assert alg_and_kid(log_in(after, account)) == alg_and_kid(eddsa_token)
    assert discovered_algorithms(after) == ["EdDSA"]

    promoted = rotate(after)  # the NEXT key, made EdDSA before, signs; the fresh NEXT is ES256

    assert promoted.alg == "EdDSA"
    assert [alg for _, _, alg in published(after)] == ["EdDSA", "ES256", "EdDSA"]
    assert discovered_algorithms(after) == ["EdDSA", "ES256"]

    promoted = rotate(after)
    es256_token = log_in(after, account)

    assert promoted.alg == "ES256"
    assert alg_and_kid(es256_token) == ("ES256", promoted.kid)
    assert discovered_algorithms(after) == ["ES256", "EdDSA"]
    for token in (eddsa_token, es256_token):  # the retired EdDSA key verifies what it signed
        assert me(after, token).status_code == 200
    assert verified_by_joserfc(after, es256_token).claims["sub"] == account.user_id
    assert sorted((key.state, key.alg) for key in stored_keys(after)) == [
        (KeyState.CURRENT, "ES256"),
        (KeyState.NEXT, "ES256"),
        (KeyState.RETIRED, "EdDSA"),
        (KeyState.RETIRED, "EdDSA"),
    ]


# --- JSON that two parsers could read differently ------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def in_front(member: str, obj: str) -> str:
    """The JSON object `obj` with `member` written before its own members."""
    return "{" + member + "," + obj[1:]


def at_the_end(member: str, obj: str) -> str:
    return obj[:-1] + "," + member + "}"


# Each edits the header and the claims (JSON text) of a token tenantry issued. Python's parser
# keeps the last of two names, so the real value written last is what PyJWT alone would read.
EDITS: dict[str, Callable[[str, str], tuple[str, str]]] = {
    "a second iss": lambda h, c: (h, in_front('"iss":"https://evil.example"', c)),
    "a second sub": lambda h, c: (h, in_front('"sub":"usr_someone_else"', c)),
    "a second iss, spelt with an escape": lambda h, c: (h, in_front('"\\u0069ss":"x"', c)),
    "a second kid in the header": lambda h, c: (in_front('"kid":"key_unknown"', h), c),
    "a second alg in the header": lambda h, c: (in_front('"alg":"none"', h), c),
    "NaN in a claim": lambda h, c: (h, at_the_end('"scope":NaN', c)),
    "Infinity in a claim": lambda h, c: (h, at_the_end('"scope":Infinity', c)),
    "-Infinity in a nested claim": lambda h, c: (h, at_the_end('"cnf":{"x":-Infinity}', c)),
    "a number no double holds": lambda h, c: (h, at_the_end('"scope":1e400', c)),
    "NaN in the header": lambda h, c: (at_the_end('"ext":NaN', h), c),
}


def resigned(api: Api, token: str, edit: Callable[[str, str], tuple[str, str]]) -> str:
    """`token` with its header and claims edited as JSON text, signed again with the key that
    signed it: tenantry's own current key."""
    header_part, claims_part, _ = token.split(".")
    header = json.loads(unb64url(header_part))
    [key] = [key for key in stored_keys(api) if key.kid == header["kid"]]
    header_json, claims_json = edit(
        json.dumps(header, separators=(",", ":")),
        json.dumps(json.loads(unb64url(claims_part)), separators=(",", ":")),
    )
    signing_input = f"{b64url(header_json.encode())}.{b64url(claims_json.encode())}"
    private_key = load_private_key(key, api.tenantry.key_factory.cipher)
    signature = get_default_algorithms()[key.alg].sign(signing_input.encode(), private_key)
    return f"{signing_input}.{b64url(signature)}"


def test_a_token_rebuilt_by_hand_and_signed_with_the_current_key_is_accepted(api: Api) -> None:
    account = api.verified_account()

    rebuilt = resigned(api, account.access_token, lambda h, c: (h, c))

    response = me(api, rebuilt)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == account.user_id


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_token_with_duplicate_names_or_non_finite_numbers_is_refused(
    api: Api, store_target: StoreTarget, edit: Callable[[str, str], tuple[str, str]]
) -> None:
    account = api.verified_account()
    ambiguous = resigned(api, account.access_token, edit)

    response = me(api, ambiguous)

    assert_problem(response, 401, "invalid_token")
    event = audit_of(store_target, response, action="auth.token", outcome=Outcome.FAILURE)
    assert (event.actor_id, event.reason) == (None, "invalid_token")
    assert me(api, account.access_token).status_code == 200  # the session itself is untouched
