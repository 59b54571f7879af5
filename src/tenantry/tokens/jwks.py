"""The signing keys another party publishes at a JWKS URL, as a verifier keeps them.

Used for trusted external issuers (a Cognito user pool) and by the product-side FastAPI
dependency for tenantry's own JWKS. The set is fetched on first use and kept for `ttl`; a
token that names a kid the set lacks makes it fetch again, at most once per
`refetch_interval`, so tokens with made-up kids cannot turn into a flood of requests. A fetch
that fails keeps the last good set, for as long as the issuer is down. Fetches are bounded in
time and size and never follow a redirect.

Why written here: PyJWT's `PyJWKClient` refetches on every unknown kid and drops its keys
when a fetch fails, which is the flood and the outage this class is for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
import structlog

DEFAULT_TTL_SECONDS = 600.0
DEFAULT_REFETCH_INTERVAL_SECONDS = 30.0
DEFAULT_FETCH_TIMEOUT_SECONDS = 2.0
MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 100
# Header parameters that point a verifier at keys of the token's own choosing (RFC 7515
# §4.1.2 to 4.1.6). tenantry never follows them, and refuses a token that carries one.
KEY_POINTING_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})

log = structlog.get_logger()

Fetch = Callable[[str, float], bytes]


class KeysUnavailable(Exception):
    """No good key set has been fetched yet, and fetching it failed."""


@dataclass(frozen=True, slots=True)
class _KeySet:
    fetched_at: float  # when a fetch last succeeded (or, for a failed refresh, was tried)
    keys: dict[str, jwt.PyJWK]


class RemoteKeySet:
    """The verification keys at `url` by kid, restricted to `algorithms`. Thread-safe: reads
    take no lock, and concurrent fetches of one set are one fetch."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: frozenset[str],
        ttl: float = DEFAULT_TTL_SECONDS,
        refetch_interval: float = DEFAULT_REFETCH_INTERVAL_SECONDS,
        timeout: float = DEFAULT_FETCH_TIMEOUT_SECONDS,
        fetch: Fetch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._algorithms = algorithms
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._timeout = timeout
        self._fetch = fetch or fetch_bounded
        self._monotonic = monotonic
        self._set: _KeySet | None = None
        self._tried_at: float | None = None
        self._lock = threading.Lock()

    def cached(self, kid: str) -> jwt.PyJWK | None:
        """The key if the set in memory has it and is within its TTL; never fetches."""
        found = self._set
        if found is None or self._stale(found):
            return None
        return found.keys.get(kid)

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key named `kid`, fetching the set when it is stale or lacks the kid (at most
        once per refetch interval); None if the issuer does not publish it.
        `KeysUnavailable` if no set could ever be fetched."""
        key = self.cached(kid)
        if key is not None:
            return key
        with self._lock:
            found = self._set
            if found is None or kid not in found.keys or self._stale(found):
                found = self._refresh()
        return found.keys.get(kid)

    def _refresh(self) -> _KeySet:
        """Fetch unless one was tried within the refetch interval; on failure, the last good
        set (its age left as it was, so the next stale read tries again after the interval)."""
        tried_at = self._tried_at
        if tried_at is not None and self._recent(tried_at):
            return self._last_good()
        self._tried_at = self._monotonic()
        try:
            keys = parse_key_set(self._fetch(self.url, self._timeout), self._algorithms)
        except (httpx.HTTPError, ValueError) as error:
            log.warning("fetching a JWKS failed", url=self.url, error=str(error))
            return self._last_good()
        self._set = _KeySet(self._tried_at, keys)
        return self._set

    def _last_good(self) -> _KeySet:
        if self._set is None:
            raise KeysUnavailable(f"the keys at {self.url} could not be fetched")
        return self._set

    def _recent(self, tried_at: float) -> bool:
        return self._younger(tried_at, self._refetch_interval)

    def _stale(self, found: _KeySet) -> bool:
        return not self._younger(found.fetched_at, self._ttl)

    def _younger(self, since: float, age: float) -> bool:
        return 0 <= self._monotonic() - since < age


def fetch_bounded(url: str, timeout: float) -> bytes:
    """GET `url` with one timeout for the whole exchange, no redirects and at most
    `MAX_JWKS_BYTES` of body; `ValueError` or `httpx.HTTPError` when it cannot."""
    # httpx's timeout bounds each read, not the exchange: a server trickling a byte a second
    # would hold the set's lock for as long as it liked, so the body also has a deadline.
    deadline = time.monotonic() + timeout
    # The body is read as sent (`iter_raw`), never inflated: a small compressed body could
    # otherwise grow far past the size bound in one chunk.
    headers = {"Accept-Encoding": "identity"}
    with httpx.stream(
        "GET", url, headers=headers, timeout=timeout, follow_redirects=False
    ) as response:
        response.raise_for_status()
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise ValueError(f"the JWKS at {url} came compressed, though identity was asked for")
        body = bytearray()
        for chunk in response.iter_raw():
            body.extend(chunk)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
            if time.monotonic() > deadline:
                raise ValueError(f"the JWKS at {url} took longer than {timeout} s to arrive")
    return bytes(body)


def parse_key_set(raw: bytes, algorithms: frozenset[str]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document whose algorithm is allowed, by kid. A key with no
    kid, another use, an algorithm not allowed, or that PyJWT cannot load is left out."""
    try:
        parsed = json.loads(raw.decode("utf-8"))
        # PyJWT reads `keys` off whatever it is given: a list or a string would be an
        # AttributeError, which no caller expects of a bad document.
        if not isinstance(parsed, dict):
            raise ValueError("a JWKS is a JSON object")
        document = jwt.PyJWKSet.from_dict(parsed)
    except (jwt.PyJWTError, ValueError, RecursionError) as error:  # UnicodeError: ValueError
        raise ValueError(f"not a usable JWKS: {error}") from error
    keys: dict[str, jwt.PyJWK] = {}
    for key in document.keys[:MAX_KEYS]:
        if _usable(key, algorithms):
            keys[str(key.key_id)] = key
    return keys


def _usable(key: jwt.PyJWK, algorithms: frozenset[str]) -> bool:
    if not isinstance(key.key_id, str) or not key.key_id:
        return False
    if key.public_key_use not in (None, "sig"):
        return False
    # A key without `alg` takes PyJWT's default for its type; either way it must be allowed.
    return key.algorithm_name in algorithms
