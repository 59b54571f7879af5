"""The signing-key ring and the access-token signer on the real SQL store.

Tokens are checked with joserfc, a library tenantry does not use, against the published JWKS:
what a relying party would do.

Issuing, verifying and refusing run on SQLite and on PostgreSQL. The tests marked
`owns_the_key_ring` assert the whole content of the ring (empty, one CURRENT key, a JWKS of
every stored key) or rotate it, which retires every CURRENT key in the table. `signing_keys`
belongs to no tenant: on the PostgreSQL database the whole session shares, it holds the ring
the apps of other tests sign with, and a rotation here would pull it from under them. So those
tests run on a SQLite database of their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from tenantry.audit.ports import AuditQuery
from tenantry.domain.errors import Conflict, Unauthenticated, Unavailable
from tenantry.domain.ids import new_id
from tenantry.domain.model import KeyState, SigningKey
from tenantry.domain.roles import OrgRole
from tenantry.keys.service import ensure_signing_keys, rotate_signing_keys
from tenantry.sessions.ports import AccessClaims
from tenantry.store.sql.store import SqlStore
from tenantry.store.sql.tables import signing_keys
from tenantry.tokens.cipher import KeyCipher, KeyDecryptionError
from tenantry.tokens.keys import (
    CipherKeyFactory,
    SigningAlg,
    generate_signing_key,
    load_private_key,
)
from tenantry.tokens.signer import CLOCK_SKEW, DEFAULT_RETIRED_KEY_GRACE, RING_MAX_AGE, JwtSigner
from tenantry.unit_of_work import UnitOfWork
from tests.harness import StoreTarget, TestClock, rows_added_are_removed, sql_store

ISSUER = "https://tenantry.test"
AUDIENCE = "tenantry"
# Later than any key the apps of other tests make (their clocks read today), so that on the
# shared PostgreSQL database the signer signs with the CURRENT key its own test made.
START = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
TTL = timedelta(minutes=10)
ALGS: list[SigningAlg] = ["EdDSA", "ES256", "RS256"]

T = TypeVar("T")

# SQLite only, on a database of this test's own (see the module docstring).
owns_the_key_ring = pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Ring:
    current: SigningKey
    next: SigningKey


@pytest.fixture
def store(store_target: StoreTarget) -> Iterator[SqlStore]:
    """The store as the runtime role sees it. The keys a test adds are deleted afterwards: left
    on the shared database, they would sign the tokens of later tests' apps."""
    new_keys_removed = rows_added_are_removed(store_target, signing_keys.c.kid)
    with sql_store(store_target.url) as store, new_keys_removed:
        yield store


@pytest.fixture
def clock() -> TestClock:
    return TestClock(START)


@pytest.fixture
def cipher() -> KeyCipher:
    return KeyCipher("integration-test-secret-of-a-decent-length")


@pytest.fixture(params=ALGS)
def alg(request: pytest.FixtureRequest) -> SigningAlg:
    value: SigningAlg = request.param
    return value


@pytest.fixture
def make_signer(store: SqlStore, cipher: KeyCipher, clock: TestClock) -> Callable[..., JwtSigner]:
    def make(*, audience: str = AUDIENCE, issuer: str = ISSUER) -> JwtSigner:
        return JwtSigner(store.unit_of_work, cipher, issuer=issuer, audience=audience, clock=clock)

    return make


@pytest.fixture
def ring(store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg) -> Ring:
    """A CURRENT and a NEXT key of `alg`, as `ensure_signing_keys` makes them in an empty table.

    Added directly: on the shared database the apps of other tests have left a CURRENT key, so
    `ensure_signing_keys` would add nothing there.
    """
    made = Ring(
        current=generate_signing_key(alg, clock.now(), cipher, KeyState.CURRENT),
        next=generate_signing_key(alg, clock.now(), cipher, KeyState.NEXT),
    )

    def add(uow: UnitOfWork) -> None:
        uow.signing_keys.add(made.current)
        uow.signing_keys.add(made.next)

    committed(store, add)
    return made


@pytest.fixture
def signer(ring: Ring, make_signer: Callable[..., JwtSigner]) -> JwtSigner:
    return make_signer()


def committed(store: SqlStore, use_case: Callable[[UnitOfWork], T]) -> T:
    with store.unit_of_work() as uow:
        result = use_case(uow)
        uow.commit()
    return result


def rotate(store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg) -> SigningKey:
    return committed(
        store,
        lambda uow: rotate_signing_keys(
            uow, now=clock.now(), factory=CipherKeyFactory(alg, cipher)
        ),
    )


def stored_keys(store: SqlStore) -> list[SigningKey]:
    with store.unit_of_work() as uow:
        return uow.signing_keys.list()


def keys_in(store: SqlStore, state: KeyState) -> list[SigningKey]:
    return [key for key in stored_keys(store) if key.state == state]


def access_claims(
    clock: TestClock,
    *,
    ttl: timedelta = TTL,
    org_id: str | None = "org_acme",
    org_role: OrgRole | None = OrgRole.ADMIN,
) -> AccessClaims:
    return AccessClaims(
        user_id=new_id("usr"),
        session_id=new_id("ses"),
        token_id=new_id("at"),
        issued_at=clock.now(),
        expires_at=clock.now() + ttl,
        org_id=org_id,
        org_role=org_role,
    )


def verified_independently(token: str, jwks: dict[str, object], clock: TestClock) -> jose_jwt.Token:
    with warnings.catch_warnings():
        # RFC 9864 prefers "Ed25519" to the fully specified "EdDSA"; both name our key type.
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=ALGS)  # type: ignore[arg-type]
    registry = jose_jwt.JWTClaimsRegistry(
        now=int(clock.now().timestamp()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    return decoded


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload)), signature


def compact(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    encoded = [b64url(json.dumps(part).encode()) for part in (header, payload)]
    return ".".join([*encoded, signature])


def signed_token(
    payload: dict[str, Any],
    key: SigningKey,
    cipher: KeyCipher,
    *,
    kid: str | None = None,
    typ: str = "at+jwt",
) -> str:
    """`payload` signed with `key`, its header naming `kid` (the key's own unless given)."""
    return pyjwt.encode(
        payload,
        load_private_key(key, cipher),
        algorithm=key.alg,
        headers={"kid": kid or key.kid, "typ": typ},
    )


def refused(signer: JwtSigner, token: str, code: str = "invalid_token") -> Unauthenticated:
    with pytest.raises(Unauthenticated) as refusal:
        signer.verify_access_token(token)
    assert refusal.value.code == code
    return refusal.value


# The key ring


@owns_the_key_ring
def test_ensure_creates_a_current_and_a_next_key_once(
    store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    def ensure(uow: UnitOfWork) -> bool:
        return ensure_signing_keys(uow, now=clock.now(), factory=CipherKeyFactory(alg, cipher))

    assert committed(store, ensure) is True
    assert committed(store, ensure) is False

    keys = stored_keys(store)
    assert sorted(key.state for key in keys) == sorted([KeyState.CURRENT, KeyState.NEXT])
    assert {key.alg for key in keys} == {alg}
    [current] = keys_in(store, KeyState.CURRENT)
    with store.unit_of_work() as uow:
        [event] = uow.audit.find(AuditQuery(org_id=None, action="keys.create"))
    assert (event.resource_type, event.resource_id) == ("signing_key", current.kid)


@owns_the_key_ring
def test_rotation_promotes_next_retires_current_and_publishes_a_fresh_next(
    store: SqlStore, cipher: KeyCipher, clock: TestClock, signer: JwtSigner, alg: SigningAlg
) -> None:
    [old_current] = keys_in(store, KeyState.CURRENT)
    [old_next] = keys_in(store, KeyState.NEXT)
    clock.advance(timedelta(hours=1))

    new_current = rotate(store, cipher, clock, alg)

    assert new_current.kid == old_next.kid
    assert new_current.state == KeyState.CURRENT
    by_kid = {key.kid: key for key in stored_keys(store)}
    assert by_kid[old_current.kid].state == KeyState.RETIRED
    assert by_kid[old_current.kid].retired_at == clock.now()
    assert by_kid[old_next.kid].state == KeyState.CURRENT
    [fresh_next] = keys_in(store, KeyState.NEXT)
    assert fresh_next.kid not in {old_current.kid, old_next.kid}
    with store.unit_of_work() as uow:
        [event] = uow.audit.find(AuditQuery(org_id=None, action="keys.rotate"))
    assert (event.resource_type, event.resource_id) == ("signing_key", new_current.kid)
    assert (event.event_type, event.actor_type, event.outcome) == (
        "CONFIGURATION",
        "SYSTEM",
        "SUCCESS",
    )


@owns_the_key_ring
def test_rotation_without_a_key_ring_is_a_conflict(
    store: SqlStore, cipher: KeyCipher, clock: TestClock
) -> None:
    with pytest.raises(Conflict) as refusal:
        rotate(store, cipher, clock, "EdDSA")

    assert refusal.value.code == "no_signing_key"
    assert stored_keys(store) == []


@owns_the_key_ring
def test_two_current_keys_left_by_racing_starts_are_signed_with_newest_and_rotated_away(
    store: SqlStore,
    cipher: KeyCipher,
    clock: TestClock,
    alg: SigningAlg,
    make_signer: Callable[..., JwtSigner],
) -> None:
    # PostgreSQL lets two processes both find no CURRENT key and both create one.
    older = generate_signing_key(alg, clock.now(), cipher, KeyState.CURRENT)
    clock.advance(timedelta(seconds=1))
    newer = generate_signing_key(alg, clock.now(), cipher, KeyState.CURRENT)

    def add_both(uow: UnitOfWork) -> None:
        uow.signing_keys.add(older)
        uow.signing_keys.add(newer)

    committed(store, add_both)

    token = make_signer().issue_access_token(access_claims(clock))
    promoted = rotate(store, cipher, clock, alg)

    assert split(token)[0]["kid"] == newer.kid
    assert [key.kid for key in keys_in(store, KeyState.CURRENT)] == [promoted.kid]
    assert {key.kid for key in keys_in(store, KeyState.RETIRED)} == {older.kid, newer.kid}


# Issuing and verifying


def test_an_issued_token_verifies_here_and_with_another_library(
    signer: JwtSigner, ring: Ring, clock: TestClock, alg: SigningAlg
) -> None:
    claims = access_claims(clock)

    token = signer.issue_access_token(claims)

    assert signer.verify_access_token(token) == claims
    decoded = verified_independently(token, signer.public_jwks(), clock)
    assert decoded.header == {"alg": alg, "kid": ring.current.kid, "typ": "at+jwt"}
    assert decoded.claims == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": claims.user_id,
        "exp": int(claims.expires_at.timestamp()),
        "iat": int(claims.issued_at.timestamp()),
        "nbf": int(claims.issued_at.timestamp()),
        "jti": claims.token_id,
        "sid": claims.session_id,
        "token_use": "access",
        "org_id": "org_acme",
        "org_role": "ADMIN",
    }


def test_a_token_without_an_organisation_carries_no_org_claims(
    signer: JwtSigner, clock: TestClock
) -> None:
    claims = access_claims(clock, org_id=None, org_role=None)

    token = signer.issue_access_token(claims)

    _, payload, _ = split(token)
    assert "org_id" not in payload
    assert "org_role" not in payload
    assert signer.verify_access_token(token) == claims


@owns_the_key_ring
def test_the_jwks_publishes_current_and_next_public_keys_only(
    signer: JwtSigner, store: SqlStore
) -> None:
    jwks = signer.public_jwks()

    published = jwks["keys"]
    assert isinstance(published, list)
    assert {jwk["kid"] for jwk in published} == {key.kid for key in stored_keys(store)}
    assert all(not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys() for jwk in published)
    assert all(jwk["use"] == "sig" for jwk in published)


@owns_the_key_ring
def test_without_a_current_key_nothing_is_issued(
    make_signer: Callable[..., JwtSigner], clock: TestClock
) -> None:
    with pytest.raises(Unavailable) as refusal:
        make_signer().issue_access_token(access_claims(clock))

    assert refusal.value.code == "no_signing_key"


def test_a_signer_with_another_secret_cannot_sign(
    signer: JwtSigner, store: SqlStore, clock: TestClock
) -> None:
    other = JwtSigner(
        store.unit_of_work,
        KeyCipher("not-the-secret-the-keys-were-encrypted-with"),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
    )

    with pytest.raises(KeyDecryptionError):
        other.issue_access_token(access_claims(clock))


# Refusals


def test_a_tampered_payload_is_refused(signer: JwtSigner, clock: TestClock) -> None:
    header, payload, signature = split(signer.issue_access_token(access_claims(clock)))

    payload["org_role"] = "OWNER"

    refused(signer, compact(header, payload, signature))


@pytest.mark.parametrize("none", ["none", "None", "NONE"])
def test_an_unsigned_token_is_refused(signer: JwtSigner, clock: TestClock, none: str) -> None:
    header, payload, _ = split(signer.issue_access_token(access_claims(clock)))

    refused(signer, compact({**header, "alg": none}, payload, ""))


def test_hmac_keyed_with_the_public_key_is_refused(
    signer: JwtSigner, ring: Ring, cipher: KeyCipher, clock: TestClock
) -> None:
    header, payload, _ = split(signer.issue_access_token(access_claims(clock)))
    public_pem = (
        load_private_key(ring.current, cipher)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged_header = {**header, "alg": "HS256"}

    for secret in (public_pem, json.dumps(ring.current.public_jwk).encode()):
        unsigned = compact(forged_header, payload, "")[:-1]
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        refused(signer, f"{unsigned}.{b64url(mac)}")


def test_the_header_algorithm_cannot_swap_the_one_the_key_has(
    signer: JwtSigner, clock: TestClock, alg: SigningAlg
) -> None:
    header, payload, signature = split(signer.issue_access_token(access_claims(clock)))
    other = next(candidate for candidate in ALGS if candidate != alg)

    refused(signer, compact({**header, "alg": other}, payload, signature))


def test_an_expired_token_is_refused_by_the_injected_clock(
    signer: JwtSigner, clock: TestClock
) -> None:
    token = signer.issue_access_token(access_claims(clock))

    clock.advance(TTL + CLOCK_SKEW - timedelta(seconds=1))
    signer.verify_access_token(token)  # within the tolerated skew
    clock.advance(timedelta(seconds=1))

    refused(signer, token, code="token_expired")


def test_a_token_issued_in_the_future_is_refused(signer: JwtSigner, clock: TestClock) -> None:
    clock.advance(timedelta(minutes=5))
    token = signer.issue_access_token(access_claims(clock))
    clock.advance(-timedelta(minutes=5))

    refused(signer, token)


def test_a_token_for_another_audience_is_refused(
    signer: JwtSigner, make_signer: Callable[..., JwtSigner], clock: TestClock
) -> None:
    token = make_signer(audience="another-product").issue_access_token(access_claims(clock))

    refusal = refused(signer, token)

    assert isinstance(refusal.__cause__, pyjwt.InvalidAudienceError)


def test_a_token_from_another_issuer_is_refused(
    signer: JwtSigner, make_signer: Callable[..., JwtSigner], clock: TestClock
) -> None:
    token = make_signer(issuer="https://evil.test").issue_access_token(access_claims(clock))

    refusal = refused(signer, token)

    assert isinstance(refusal.__cause__, pyjwt.InvalidIssuerError)


def test_a_token_signed_by_a_key_tenantry_never_stored_is_refused(
    signer: JwtSigner, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    stranger = generate_signing_key(alg, clock.now(), cipher, KeyState.CURRENT)
    _, payload, _ = split(signer.issue_access_token(access_claims(clock)))

    refused(signer, signed_token(payload, stranger, cipher))


def test_a_token_naming_a_known_kid_but_signed_by_another_key_is_refused(
    signer: JwtSigner, ring: Ring, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    stranger = generate_signing_key(alg, clock.now(), cipher, KeyState.CURRENT)
    _, payload, _ = split(signer.issue_access_token(access_claims(clock)))

    refused(signer, signed_token(payload, stranger, cipher, kid=ring.current.kid))


def test_another_kind_of_jwt_signed_by_our_key_is_refused(
    signer: JwtSigner, ring: Ring, cipher: KeyCipher, clock: TestClock
) -> None:
    _, payload, _ = split(signer.issue_access_token(access_claims(clock)))
    without_session = {name: value for name, value in payload.items() if name != "sid"}
    ours = ring.current

    refused(signer, signed_token(payload, ours, cipher, typ="JWT"))
    refused(signer, signed_token({**payload, "token_use": "refresh"}, ours, cipher))
    refused(signer, signed_token(without_session, ours, cipher))
    refused(signer, signed_token({**payload, "org_role": "ROOT"}, ours, cipher))
    refused(signer, signed_token({**payload, "exp": "never"}, ours, cipher))


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "e30.e30.", "...."])
def test_garbage_is_refused(signer: JwtSigner, garbage: str) -> None:
    refused(signer, garbage)


# Rotation as seen by signers


@owns_the_key_ring
def test_a_token_signed_by_a_retired_key_still_verifies_after_rotation(
    signer: JwtSigner, store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    before = signer.issue_access_token(access_claims(clock))
    old_kid = split(before)[0]["kid"]

    new_current = rotate(store, cipher, clock, alg)
    signer.reload()
    after = signer.issue_access_token(access_claims(clock))

    assert split(after)[0]["kid"] == new_current.kid != old_kid
    jwks = signer.public_jwks()
    assert {jwk["kid"] for jwk in jwks["keys"]} == {key.kid for key in stored_keys(store)}  # type: ignore[attr-defined]
    for token in (before, after):
        signer.verify_access_token(token)
        verified_independently(token, jwks, clock)


@owns_the_key_ring
def test_a_retired_key_is_dropped_once_no_token_it_signed_can_be_live(
    signer: JwtSigner, store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    long_lived = signer.issue_access_token(access_claims(clock, ttl=timedelta(days=3)))
    old_kid = split(long_lived)[0]["kid"]
    rotate(store, cipher, clock, alg)

    clock.advance(DEFAULT_RETIRED_KEY_GRACE - RING_MAX_AGE)
    signer.verify_access_token(long_lived)
    clock.advance(RING_MAX_AGE * 2)  # the cached ring is stale, the key past its grace

    refused(signer, long_lived)
    assert old_kid not in {jwk["kid"] for jwk in signer.public_jwks()["keys"]}  # type: ignore[attr-defined]


@owns_the_key_ring
def test_a_rotation_by_another_process_reaches_a_signer_within_a_minute(
    signer: JwtSigner,
    make_signer: Callable[..., JwtSigner],
    store: SqlStore,
    cipher: KeyCipher,
    clock: TestClock,
    alg: SigningAlg,
) -> None:
    old_kid = split(signer.issue_access_token(access_claims(clock)))[0]["kid"]
    new_kid = rotate(store, cipher, clock, alg).kid
    elsewhere = make_signer()

    clock.advance(timedelta(seconds=30))
    from_elsewhere = elsewhere.issue_access_token(access_claims(clock))
    assert split(signer.issue_access_token(access_claims(clock)))[0]["kid"] == old_kid
    signer.verify_access_token(from_elsewhere)  # it was published as NEXT before the rotation

    clock.advance(timedelta(seconds=31))
    assert split(signer.issue_access_token(access_claims(clock)))[0]["kid"] == new_kid


def test_unknown_kids_reload_the_ring_at_most_every_five_seconds(
    signer: JwtSigner, store: SqlStore, cipher: KeyCipher, clock: TestClock, alg: SigningAlg
) -> None:
    signer.public_jwks()  # the ring is now loaded
    _, payload, _ = split(signer.issue_access_token(access_claims(clock)))

    def token_from_a_key_added_now() -> str:
        key = generate_signing_key(alg, clock.now(), cipher, KeyState.NEXT)
        committed(store, lambda uow: uow.signing_keys.add(key))
        return signed_token(payload, key, cipher)

    just_after_loading = token_from_a_key_added_now()
    refused(signer, just_after_loading)
    clock.advance(timedelta(seconds=5))
    signer.verify_access_token(just_after_loading)  # the unknown kid caused one read
    clock.advance(timedelta(seconds=4))
    too_soon = token_from_a_key_added_now()
    refused(signer, too_soon)
    clock.advance(timedelta(seconds=1))

    signer.verify_access_token(too_soon)
