from __future__ import annotations

import dataclasses
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jwk as jose_jwk
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from tenantry.domain.model import KeyState
from tenantry.settings import Settings
from tenantry.tokens.cipher import KeyCipher, KeyDecryptionError, resolve_secret_key
from tenantry.tokens.compact import MalformedToken, base64url, read_compact
from tenantry.tokens.keys import (
    CipherKeyFactory,
    ConfiguredAlg,
    SigningAlg,
    generate_signing_key,
    load_private_key,
)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRET = "a-test-secret-that-is-long-enough-for-anyone"
ALGS: list[SigningAlg] = ["ES256", "RS256", "EdDSA"]
JOSE_KEY_TYPE: dict[str, Literal["OKP", "EC", "RSA"]] = {
    "ES256": "EC",
    "RS256": "RSA",
    "EdDSA": "OKP",
}


@pytest.fixture
def cipher() -> KeyCipher:
    return KeyCipher(SECRET)


@pytest.mark.parametrize("alg", ALGS)
def test_a_generated_key_publishes_only_its_public_half(alg: SigningAlg, cipher: KeyCipher) -> None:
    key = generate_signing_key(alg, NOW, cipher, KeyState.NEXT)

    assert key.kid.startswith("key_")
    assert (key.alg, key.state, key.created_at, key.retired_at) == (alg, KeyState.NEXT, NOW, None)
    assert key.public_jwk["kid"] == key.kid
    assert key.public_jwk["alg"] == alg
    assert key.public_jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.public_jwk.keys()


@pytest.mark.parametrize("alg", ALGS)
def test_the_public_jwk_matches_the_private_key_as_another_library_reads_it(
    alg: SigningAlg, cipher: KeyCipher
) -> None:
    key = generate_signing_key(alg, NOW, cipher, KeyState.CURRENT)
    public_pem = (
        load_private_key(key, cipher)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    independent = jose_jwk.import_key(public_pem, JOSE_KEY_TYPE[alg]).as_dict()

    assert {name: key.public_jwk[name] for name in independent} == independent


@pytest.mark.parametrize(("alg", "key_type"), [("ES256", "EC"), ("RS256", "RSA"), ("EdDSA", "OKP")])
def test_key_types_and_sizes_are_the_ones_the_algorithm_names(
    alg: SigningAlg, key_type: str, cipher: KeyCipher
) -> None:
    jwk = generate_signing_key(alg, NOW, cipher, KeyState.CURRENT).public_jwk

    assert jwk["kty"] == key_type
    if alg == "EdDSA":
        assert jwk["crv"] == "Ed25519"
    if alg == "ES256":
        assert jwk["crv"] == "P-256"
    if alg == "RS256":
        assert jwk["e"] == "AQAB"
        assert jose_jwk.import_key(jwk, "RSA").raw_value.key_size == 2048


def test_new_keys_are_es256_unless_configured_otherwise(cipher: KeyCipher) -> None:
    configured = Settings(_env_file=None).signing_alg

    key = CipherKeyFactory(configured, cipher).new_key(KeyState.CURRENT, NOW)

    assert configured == "ES256"
    assert (key.alg, key.public_jwk["kty"], key.public_jwk["crv"]) == ("ES256", "EC", "P-256")


@pytest.mark.parametrize("name", ["Ed25519", "EdDSA"])
def test_both_names_of_ed25519_make_a_key_that_signs_and_publishes_as_eddsa(
    name: ConfiguredAlg, cipher: KeyCipher
) -> None:
    configured = Settings(_env_file=None, signing_alg=name).signing_alg

    key = CipherKeyFactory(configured, cipher).new_key(KeyState.CURRENT, NOW)

    # PyJWT 2.15 knows no algorithm named "Ed25519" (docs/tokens.md).
    assert key.alg == "EdDSA"
    assert (key.public_jwk["kty"], key.public_jwk["crv"], key.public_jwk["alg"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
    )
    assert isinstance(load_private_key(key, cipher), ed25519.Ed25519PrivateKey)


def test_a_signing_alg_setting_outside_the_supported_ones_is_refused() -> None:
    with pytest.raises(ValidationError, match="signing_alg"):
        Settings(_env_file=None, signing_alg="HS256")


def test_each_key_gets_its_own_random_kid(cipher: KeyCipher) -> None:
    kids = {generate_signing_key("ES256", NOW, cipher, KeyState.NEXT).kid for _ in range(20)}

    assert len(kids) == 20


@pytest.mark.parametrize("alg", ALGS)
def test_the_private_key_is_stored_encrypted(alg: SigningAlg, cipher: KeyCipher) -> None:
    key = generate_signing_key(alg, NOW, cipher, KeyState.CURRENT)

    assert "PRIVATE KEY" not in key.private_key_encrypted
    assert b"-----BEGIN PRIVATE KEY-----" in cipher.decrypt(key.private_key_encrypted)


def test_a_key_whose_alg_was_changed_in_storage_does_not_load(cipher: KeyCipher) -> None:
    key = generate_signing_key("EdDSA", NOW, cipher, KeyState.CURRENT)

    with pytest.raises(ValueError, match="does not hold an RS256 private key"):
        load_private_key(dataclasses.replace(key, alg="RS256"), cipher)


def test_an_unknown_algorithm_is_refused(cipher: KeyCipher) -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        generate_signing_key("HS256", NOW, cipher, KeyState.CURRENT)  # type: ignore[arg-type]


def test_the_cipher_round_trips_and_hides_the_plaintext(cipher: KeyCipher) -> None:
    ciphertext = cipher.encrypt(b"-----BEGIN PRIVATE KEY-----\nsecret bytes")

    assert "secret" not in ciphertext
    assert cipher.decrypt(ciphertext) == b"-----BEGIN PRIVATE KEY-----\nsecret bytes"
    assert cipher.encrypt(b"same") != cipher.encrypt(b"same")


def test_a_key_encrypted_under_another_secret_does_not_decrypt(cipher: KeyCipher) -> None:
    ciphertext = KeyCipher("another-secret-entirely-different-from-ours").encrypt(b"pem")

    with pytest.raises(KeyDecryptionError, match="TENANTRY_SECRET_KEY"):
        cipher.decrypt(ciphertext)


def test_a_tampered_ciphertext_does_not_decrypt(cipher: KeyCipher) -> None:
    ciphertext = cipher.encrypt(b"pem")
    tampered = ciphertext[:-6] + ("A" if ciphertext[-6] != "A" else "B") + ciphertext[-5:]

    with pytest.raises(KeyDecryptionError):
        cipher.decrypt(tampered)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        KeyCipher("")


def test_the_configured_secret_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tenantry.secret"
    path.write_text("from-the-file\n")
    settings = Settings(secret_key=SecretStr(SECRET), secret_key_file=path)

    assert resolve_secret_key(settings) == SECRET


def test_without_a_configured_secret_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tenantry.secret"
    path.write_text("from-the-file\n")

    assert resolve_secret_key(Settings(secret_key=None, secret_key_file=path)) == "from-the-file"


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tenantry.secret"
    path.write_text("\n")

    with pytest.raises(ValueError, match="is empty"):
        resolve_secret_key(Settings(secret_key=None, secret_key_file=path))


def test_a_missing_secret_is_generated_stored_privately_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tenantry.secret"
    settings = Settings(secret_key=None, secret_key_file=path)

    with capture_logs() as logs:
        secret = resolve_secret_key(settings)

    assert len(secret) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == secret
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert "generated a new secret key" in logs[0]["event"]
    assert logs[0]["secret_key_file"] == str(path.resolve())
    assert list(path.parent.iterdir()) == [path]  # no staging file left behind
    assert resolve_secret_key(settings) == secret


# The compact form, read strictly (tokens/compact.py)

HEADER = '{"alg":"ES256","kid":"key_1","typ":"at+jwt"}'
CLAIMS = '{"iss":"https://tenantry.test","sub":"usr_1","exp":1.5e9,"scope":["a","b"]}'


def compact(header: bytes | str, claims: bytes | str) -> str:
    parts = [part.encode() if isinstance(part, str) else part for part in (header, claims)]
    return ".".join([*(base64url(part) for part in parts), "c2lnbmF0dXJl"])


def test_a_plain_token_reads_as_its_header_and_claims() -> None:
    read = read_compact(compact(HEADER, CLAIMS))

    assert read.header == {"alg": "ES256", "kid": "key_1", "typ": "at+jwt"}
    assert read.claims == {
        "iss": "https://tenantry.test",
        "sub": "usr_1",
        "exp": 1.5e9,
        "scope": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ('{"alg":"none","alg":"ES256"}', CLAIMS),
        (HEADER, '{"iss":"https://evil.test","iss":"https://tenantry.test"}'),
        (HEADER, '{"iss":"a","\\u0069ss":"b"}'),  # one name, spelt twice
        (HEADER, '{"cnf":{"jkt":"a","jkt":"b"}}'),
        (HEADER, '{"x":NaN}'),
        (HEADER, '{"x":Infinity}'),
        (HEADER, '{"x":[1,-Infinity]}'),
        (HEADER, '{"x":1e400}'),
        (HEADER, '{"x":-1E+309}'),
        ('{"alg":"ES256","x":NaN}', CLAIMS),
    ],
    ids=[
        "duplicate header parameter",
        "duplicate claim",
        "duplicate claim, escaped",
        "duplicate member deeper down",
        "NaN",
        "Infinity",
        "-Infinity in an array",
        "too large for a double",
        "too small for a double",
        "NaN in the header",
    ],
)
def test_what_json_parsers_read_differently_is_refused(header: str, claims: str) -> None:
    with pytest.raises(MalformedToken):
        read_compact(compact(header, claims))


@pytest.mark.parametrize(
    "claims",
    [
        CLAIMS.encode("utf-16"),  # Python's json would read it; RFC 7515 says UTF-8
        b"\xef\xbb\xbf" + CLAIMS.encode(),  # a byte-order mark
        b'{"sub":"\xff"}',  # not UTF-8
        b"[1,2]",  # not an object
        b'{"sub":"usr_1"',
        b"",
    ],
    ids=["utf-16", "bom", "not utf-8", "array", "truncated", "empty"],
)
def test_claims_that_are_not_one_utf8_json_object_are_refused(claims: bytes) -> None:
    with pytest.raises(MalformedToken):
        read_compact(compact(HEADER, claims))


@pytest.mark.parametrize(
    "token",
    ["e30.e30", "e30.e30.c2ln.c2ln", "e30=.e30.c2ln", "e31.e30.c2ln", "e3+.e30.c2ln", "e.e30.c2ln"],
    ids=[
        "two parts",
        "four parts",
        "padded",
        "non-canonical",
        "base64 not base64url",
        "a stray char",
    ],
)
def test_segments_must_be_canonical_unpadded_base64url(token: str) -> None:
    assert read_compact("e30.e30.c2ln").claims == {}

    with pytest.raises(MalformedToken):
        read_compact(token)
