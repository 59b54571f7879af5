"""An external token issuer the probe controls: an RSA key, its JWKS served on loopback.

The target trusts it when started with the entry `trusted_issuer_entry` gives in
`TENANTRY_TRUSTED_ISSUERS`; the probe then signs tokens for its principals as an identity
provider (Cognito, Auth0) would. Stdlib's HTTP server is enough for one JSON document.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "tenantry-probe"
ORGANISATION_CLAIM = "custom:organisation_id"
JWKS_PATH = "/.well-known/jwks.json"  # the server answers every path alike


def trusted_issuer_entry(host: str, port: int) -> dict[str, Any]:
    """The `TENANTRY_TRUSTED_ISSUERS` entry that makes a target trust the probe's issuer."""
    base = f"http://{host}:{port}"
    return {"issuer": base, "jwks_url": base + JWKS_PATH, "audience": AUDIENCE}


class JwksServer:
    """One JSON document on loopback, at every path, counting the requests that come."""

    def __init__(self, host: str, port: int, document: dict[str, Any]) -> None:
        self.requests = 0
        self._body = json.dumps(document).encode()
        self._server = ThreadingHTTPServer((host, port), self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        served = self

        class Answer(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(served._body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the probe prints its own summary."""

        return Answer

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, name="probe-jwks", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class ProbeIssuer(JwksServer):
    def __init__(self, host: str, port: int) -> None:
        self.entry = trusted_issuer_entry(host, port)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = "probe-" + secrets.token_hex(6)
        super().__init__(host, port, public_jwks(self._key, self._kid, "RS256"))

    def token(self, subject: str, email: str, org_id: str, ttl_seconds: int = 900) -> str:
        """A token of this issuer for `email`, naming `org_id`, valid for `ttl_seconds`."""
        now = int(time.time())
        claims = {
            "iss": self.entry["issuer"],
            "aud": AUDIENCE,
            "sub": subject,
            "email": email,
            "email_verified": True,
            ORGANISATION_CLAIM: org_id,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})


def public_jwks(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, alg: str
) -> dict[str, Any]:
    """The JWKS of one key pair's public half."""
    if isinstance(key, rsa.RSAPrivateKey):
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    else:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": kid, "alg": alg, "use": "sig"}]}
