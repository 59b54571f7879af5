"""Access tokens: JWTs (`typ` at+jwt) signed with tenantry's own key ring, and its JWKS.

A token is checked as `access_token` says (strictly read, `typ` at+jwt, the algorithm of the
stored key its `kid` names, never the one its header claims, times with `CLOCK_SKEW`), the
same checks a product makes when it verifies through the JWKS.

The ring is cached in memory. It is reloaded when it is a minute old, so a rotation made by
another process reaches this one, and when a token names a kid the ring lacks, at most once
every few seconds so that tokens with made-up kids cannot turn into a flood of reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog

from tenantry.clock import Clock
from tenantry.domain.errors import Unavailable
from tenantry.domain.model import KeyState, SigningKey
from tenantry.sessions.ports import AccessClaims
from tenantry.tokens.access_token import (
    CLOCK_SKEW as CLOCK_SKEW,  # still importable from here, where it lived before
)
from tenantry.tokens.access_token import (
    JWT_TYPE,
    USE_ACCESS,
    invalid_token,
    kid_of,
    verified_with,
)
from tenantry.tokens.cipher import KeyCipher
from tenantry.tokens.keys import SIGNING_ALGS, PrivateKey, load_private_key
from tenantry.unit_of_work import UnitOfWorkFactory

RING_MAX_AGE = timedelta(seconds=60)
UNKNOWN_KID_RELOAD_INTERVAL = timedelta(seconds=5)
# Access tokens live at most a day (settings), so a key retired longer ago signed nothing live.
DEFAULT_RETIRED_KEY_GRACE = timedelta(days=1) + CLOCK_SKEW

_PUBLISH_ORDER = {KeyState.CURRENT: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class _KeyRing:
    loaded_at: datetime
    signing: tuple[SigningKey, PrivateKey] | None
    verifiers: dict[str, jwt.PyJWK]
    published: list[dict[str, Any]]
    algorithms: tuple[str, ...]


class JwtSigner:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        cipher: KeyCipher,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        retired_key_grace: timedelta = DEFAULT_RETIRED_KEY_GRACE,
    ) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._retired_key_grace = retired_key_grace
        self._ring: _KeyRing | None = None
        self._lock = threading.Lock()

    def issue_access_token(self, claims: AccessClaims) -> str:
        signing = self._fresh_ring().signing
        if signing is None:
            raise Unavailable("there is no current signing key", code="no_signing_key")
        key, private_key = signing
        return jwt.encode(
            self._payload(claims),
            private_key,
            algorithm=key.alg,
            headers={"kid": key.kid, "typ": JWT_TYPE},
        )

    def verify_access_token(self, token: str) -> AccessClaims:
        verifier = self._verifier(kid_of(token))
        return verified_with(
            verifier, token, issuer=self._issuer, audience=self._audience, now=self._clock.now()
        )

    def public_jwks(self) -> dict[str, object]:
        return {"keys": [dict(jwk) for jwk in self._fresh_ring().published]}

    def published_algorithms(self) -> list[str]:
        """The `alg` of the published keys, each once, in JWKS order (CURRENT, NEXT, RETIRED)."""
        return list(self._fresh_ring().algorithms)

    def reload(self) -> None:
        """Read the ring now, for a process that has just changed it."""
        with self._lock:
            self._load(self._clock.now())

    def _payload(self, claims: AccessClaims) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": claims.user_id,
            "aud": self._audience,
            "exp": _numeric_date(claims.expires_at),
            "iat": _numeric_date(claims.issued_at),
            "nbf": _numeric_date(claims.issued_at),
            "jti": claims.token_id,
            "sid": claims.session_id,
            "token_use": USE_ACCESS,
        }
        if claims.org_id is not None:
            payload["org_id"] = claims.org_id
        if claims.org_role is not None:
            payload["org_role"] = claims.org_role.value
        return payload

    def _verifier(self, kid: str) -> jwt.PyJWK:
        verifier = self._fresh_ring().verifiers.get(kid)
        if verifier is None:
            verifier = self._reload_for_unknown_kid().verifiers.get(kid)
        if verifier is None:
            raise invalid_token()
        return verifier

    def _fresh_ring(self) -> _KeyRing:
        now = self._clock.now()
        ring = self._ring
        if ring is not None and _younger_than(ring.loaded_at, now, RING_MAX_AGE):
            return ring
        with self._lock:
            ring = self._ring  # another thread may have loaded it while this one waited
            if ring is not None and _younger_than(ring.loaded_at, now, RING_MAX_AGE):
                return ring
            return self._load(now)

    def _reload_for_unknown_kid(self) -> _KeyRing:
        now = self._clock.now()
        with self._lock:
            ring = self._ring
            # Any read counts, so tokens with made-up kids cost one read per interval at most.
            if ring is not None and _younger_than(ring.loaded_at, now, UNKNOWN_KID_RELOAD_INTERVAL):
                return ring
            return self._load(now)

    def _load(self, now: datetime) -> _KeyRing:
        with self._uow_factory() as uow:
            keys = uow.signing_keys.list()
        ring = _build_ring(keys, self._cipher, now, self._retired_key_grace)
        self._ring = ring
        return ring


def _build_ring(
    keys: list[SigningKey], cipher: KeyCipher, now: datetime, grace: timedelta
) -> _KeyRing:
    live = sorted(
        (key for key in keys if _is_usable(key, now, grace)),
        key=lambda key: (_PUBLISH_ORDER[KeyState(key.state)], key.created_at, key.kid),
    )
    currents = [key for key in live if key.state == KeyState.CURRENT]
    # Two processes racing through `ensure_signing_keys` can leave two CURRENT keys; both are
    # published, and every process signs with the same (newest) one.
    newest = max(currents, key=lambda key: (key.created_at, key.kid), default=None)
    return _KeyRing(
        loaded_at=now,
        signing=None if newest is None else (newest, load_private_key(newest, cipher)),
        verifiers={key.kid: jwt.PyJWK(key.public_jwk, algorithm=key.alg) for key in live},
        published=[key.public_jwk for key in live],
        algorithms=tuple(dict.fromkeys(key.alg for key in live)),
    )


def _is_usable(key: SigningKey, now: datetime, grace: timedelta) -> bool:
    if key.alg not in SIGNING_ALGS:
        # Only our asymmetric algorithms: a stored HMAC or "none" key would let anyone who
        # reads the JWKS forge tokens.
        log.warning("ignoring a signing key with an unsupported algorithm", kid=key.kid)
        return False
    if key.state != KeyState.RETIRED:
        return True
    return key.retired_at is not None and now - key.retired_at < grace


def _numeric_date(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("token times must be timezone-aware")
    return int(moment.timestamp())


def _younger_than(since: datetime, now: datetime, age: timedelta) -> bool:
    # A clock that went backwards counts as stale, so the cache cannot freeze.
    return timedelta(0) <= now - since < age
