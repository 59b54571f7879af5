"""The bearer verified in the product before tenantry is asked: the checks tenantry makes
(`tokens.access_token`), against the keys it publishes at `/.well-known/jwks.json` and the
issuer its discovery document names. A token that fails them never reaches tenantry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import anyio.to_thread
import httpx
import jwt

from tenantry.clock import Clock, SystemClock
from tenantry.sessions.ports import AccessClaims
from tenantry.tokens.access_token import invalid_token, kid_of, verified_with
from tenantry.tokens.jwks import KeysUnavailable, RemoteKeySet, fetch_bounded
from tenantry.tokens.keys import SIGNING_ALGS

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
# A fetch holds up a request that would otherwise wait for `POST /v1/authorize`: it may take
# as long as the client waits for tenantry's answer (`tenantry.client.DEFAULT_TIMEOUT`).
FETCH_TIMEOUT_SECONDS = 5.0


class LocalVerifier:
    """What a product needs to verify one tenantry's tokens: its keys (a `RemoteKeySet`: kept
    for a TTL, refetched at most every half minute for an unknown kid, the last good set kept
    while tenantry is down) and its issuer (read once). `verifier_for` gives the process's
    one per tenantry; make one yourself only to choose its clocks or its fetch timeout.

    `verify` does no I/O while what it needs is cached; a fetch runs in a worker thread,
    never on the event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._keys = RemoteKeySet(
            self.base_url + JWKS_PATH,
            algorithms=frozenset(SIGNING_ALGS),
            timeout=timeout,
            monotonic=monotonic,
        )
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._issuer: str | None = None
        self._lock = threading.Lock()

    async def verify(self, token: str, *, audience: str | None = None) -> AccessClaims:
        """The claims of a token tenantry signed that is valid now (for `audience`, if given).
        `Unauthenticated` (`invalid_token`, `token_expired`) if it is not; `KeysUnavailable`
        if tenantry's keys or issuer could not be fetched and none are known."""
        kid = kid_of(token)  # a malformed token costs no fetch
        known = self._cached(kid)
        if known is None:
            known = await anyio.to_thread.run_sync(self._fetched, kid)
        key, issuer = known
        return verified_with(key, token, issuer=issuer, audience=audience, now=self._clock.now())

    def _cached(self, kid: str) -> tuple[jwt.PyJWK, str] | None:
        key, issuer = self._keys.cached(kid), self._issuer
        return (key, issuer) if key is not None and issuer is not None else None

    def _fetched(self, kid: str) -> tuple[jwt.PyJWK, str]:
        issuer = self._issuer or self._discovered_issuer()
        key = self._keys.key_for(kid)
        if key is None:  # tenantry does not publish it: not a key of tenantry's
            raise invalid_token()
        return key, issuer

    def _discovered_issuer(self) -> str:
        with self._lock:  # one fetch, however many requests arrive before it answers
            if self._issuer is None:
                self._issuer = self._fetched_issuer()
            return self._issuer

    def _fetched_issuer(self) -> str:
        url = self.base_url + DISCOVERY_PATH
        try:
            document = json.loads(fetch_bounded(url, self._timeout))
        except (httpx.HTTPError, ValueError) as error:
            raise KeysUnavailable(f"the discovery document at {url} could not be read") from error
        issuer = document.get("issuer") if isinstance(document, dict) else None
        if not isinstance(issuer, str) or not issuer:
            raise KeysUnavailable(f"the discovery document at {url} names no issuer")
        return issuer


_verifiers: dict[str, LocalVerifier] = {}
_verifiers_lock = threading.Lock()


def verifier_for(base_url: str) -> LocalVerifier:
    """The process's verifier for the tenantry at `base_url`, made on first use and kept."""
    key = base_url.rstrip("/")
    with _verifiers_lock:
        if key not in _verifiers:
            _verifiers[key] = LocalVerifier(key)
        return _verifiers[key]
