"""A JWKS server on loopback for tests that play an external issuer (a Cognito user pool):
`from tests.jwks_server import jwks_server`. It publishes the public half of the keys the
test signs with, counts every request by path, and can be told to fail or to publish other
keys (a rotation)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "127.0.0.1"


@dataclass(frozen=True)
class IssuerKey:
    """An issuer's RSA key: `private` signs the test's tokens, `public_jwk` is published."""

    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls, kid: str) -> IssuerKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())
        )
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class JwksServer:
    """Serves `{"keys": [...]}` at every path in `published` (any other path is a 404), or a
    503 at every path while `failing`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: dict[str, list[IssuerKey]] = {}
        self._requests: Counter[str] = Counter()
        self.failing = False
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def publish(self, path: str, *keys: IssuerKey) -> str:
        """Serve `keys` at `path` from now on (replacing what was there); the URL."""
        with self._lock:
            self._published[path] = list(keys)
        return self.base + path

    def requests(self, path: str) -> int:
        """How many requests came for `path` so far (answered or not)."""
        with self._lock:
            return self._requests[path]

    @property
    def request_count(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, path: str) -> tuple[int, bytes]:
        with self._lock:
            self._requests[path] += 1
            keys = self._published.get(path)
            failing = self.failing
        if failing:
            return 503, b'{"message": "unavailable"}'
        if keys is None:
            return 404, b'{"message": "not found"}'
        return 200, json.dumps({"keys": [key.public_jwk for key in keys]}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the counts are what the tests look at."""

        return Handler


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()


@dataclass
class CognitoPool:
    """A Cognito user pool as a product's users meet it, served on loopback: its issuer is
    `<server>/<region>_<pool>` (Cognito's is `https://cognito-idp.<region>.amazonaws.com/
    <region>_<pool>`), its JWKS at `<issuer>/.well-known/jwks.json`, and `token_use` says
    which of its tokens this one hands out: `access` (for the app client `client_id`) or `id`
    (whose `aud` is the app client)."""

    server: JwksServer
    name: str
    client_id: str
    key: IssuerKey
    token_use: str

    @property
    def issuer(self) -> str:
        return f"{self.server.base}/{self.name}"

    @property
    def jwks_path(self) -> str:
        return f"/{self.name}/.well-known/jwks.json"

    @property
    def jwks_url(self) -> str:
        return self.server.base + self.jwks_path

    @property
    def fetches(self) -> int:
        """How many times the pool's JWKS was asked for."""
        return self.server.requests(self.jwks_path)

    def publish(self, *keys: IssuerKey) -> None:
        self.server.publish(self.jwks_path, *keys)

    def trusted(self, **settings: Any) -> dict[str, Any]:
        """The pool's entry of TENANTRY_TRUSTED_ISSUERS."""
        recipient = "client_id" if self.token_use == "access" else "audience"
        return {
            "issuer": self.issuer,
            "jwks_url": self.jwks_url,
            recipient: self.client_id,
            "token_use": self.token_use,
            **settings,
        }

    def claims(
        self,
        subject: str,
        *,
        issued_at: float,
        org_id: str | None,
        email: str | None,
        email_verified: object = "true",
        lifetime: float = 3600,
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self.issuer,
            "token_use": self.token_use,
            "cognito:username": f"user-{subject[:8]}",
            "auth_time": int(issued_at),
            "iat": int(issued_at),
            "exp": int(issued_at + lifetime),
            "jti": f"jti-{subject}-{issued_at}",
            # A pre-token-generation trigger puts these in access tokens too.
            "email": email,
            "email_verified": email_verified,
            "custom:organisation_id": org_id,
        }
        if self.token_use == "access":
            claims |= {"client_id": self.client_id, "scope": "aws.cognito.signin.user.admin"}
        else:
            claims["aud"] = self.client_id
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: IssuerKey | None = None,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = key or self.key
        return jwt.encode(
            claims, key.private, algorithm=algorithm, headers={"kid": key.kid, **(headers or {})}
        )
