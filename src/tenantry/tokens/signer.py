"""Access tokens: JWTs (`typ` at+jwt) signed with tenantry's own key ring, and its JWKS.

A token is read strictly first (`compact.read_compact`), then verified by PyJWT with the
algorithm of the stored key its `kid` names, never the one its header claims.

The ring is cached in memory. It is reloaded when it is a minute old, so a rotation made by
another process reaches this one, and when a token names a kid the ring lacks, at most once
every few seconds so that tokens with made-up kids cannot turn into a flood of reads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import structlog

from tenantry.clock import Clock
from tenantry.domain.errors import Unauthenticated, Unavailable
from tenantry.domain.model import KeyState, SigningKey
from tenantry.domain.roles import OrgRole
from tenantry.sessions.ports import AccessClaims
from tenantry.tokens.cipher import KeyCipher
from tenantry.tokens.compact import MalformedToken, read_compact
from tenantry.tokens.keys import SIGNING_ALGS, PrivateKey, load_private_key
from tenantry.unit_of_work import UnitOfWorkFactory

JWT_TYPE = "at+jwt"
USE_ACCESS = "access"  # the `token_use` of an access token
# Tolerated difference between the clocks of the hosts that issue and verify tokens.
CLOCK_SKEW = timedelta(seconds=30)
RING_MAX_AGE = timedelta(seconds=60)
UNKNOWN_KID_RELOAD_INTERVAL = timedelta(seconds=5)
# Access tokens live at most a day (settings), so a key retired longer ago signed nothing live.
DEFAULT_RETIRED_KEY_GRACE = timedelta(days=1) + CLOCK_SKEW

_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid", "token_use"]
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
        try:
            # Before PyJWT, whose parser keeps the last of duplicate names and reads NaN.
            header = read_compact(token).header
        except MalformedToken as exc:
            raise _invalid_token() from exc
        verifier = self._verifier(_header_kid(header))
        payload = self._decode(token, verifier)
        _check_times(payload, self._clock.now())
        return _claims_from(payload)

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

    def _decode(self, token: str, verifier: jwt.PyJWK) -> dict[str, Any]:
        try:
            # The algorithm comes from the stored key, never from the token header. Time claims
            # are checked afterwards against the injected clock, not PyJWT's wall clock.
            return jwt.decode(
                token,
                verifier,
                algorithms=[verifier.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "strict_aud": True,
                    "require": _REQUIRED_CLAIMS,
                },
            )
        except jwt.PyJWTError as exc:
            raise _invalid_token() from exc

    def _verifier(self, kid: str) -> jwt.PyJWK:
        verifier = self._fresh_ring().verifiers.get(kid)
        if verifier is None:
            verifier = self._reload_for_unknown_kid().verifiers.get(kid)
        if verifier is None:
            raise _invalid_token()
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


def _header_kid(header: dict[str, Any]) -> str:
    kid, typ = header.get("kid"), header.get("typ")
    # RFC 9068 §4: the type keeps an ID token or another JWT from passing as an access token.
    if not isinstance(typ, str) or typ.lower() not in {JWT_TYPE, f"application/{JWT_TYPE}"}:
        raise _invalid_token()
    if not isinstance(kid, str) or not kid:
        raise _invalid_token()
    return kid


def _check_times(payload: dict[str, Any], now: datetime) -> None:
    moment = now.timestamp()
    skew = CLOCK_SKEW.total_seconds()
    expires, issued, not_before = (_seconds(payload, name) for name in ("exp", "iat", "nbf"))
    if moment >= expires + skew:
        raise Unauthenticated("the access token has expired", code="token_expired")
    if issued > moment + skew or not_before > moment + skew:
        raise _invalid_token()


def _claims_from(payload: dict[str, Any]) -> AccessClaims:
    if payload["token_use"] != USE_ACCESS:
        raise _invalid_token()
    return AccessClaims(
        user_id=_text(payload, "sub"),
        session_id=_text(payload, "sid"),
        token_id=_text(payload, "jti"),
        issued_at=_datetime(payload, "iat"),
        expires_at=_datetime(payload, "exp"),
        org_id=_text(payload, "org_id") if "org_id" in payload else None,
        org_role=_org_role(payload.get("org_role")),
    )


def _org_role(value: object) -> OrgRole | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid_token()
    try:
        return OrgRole(value)
    except ValueError as exc:
        raise _invalid_token() from exc


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise _invalid_token()
    return value


def _seconds(payload: dict[str, Any], name: str) -> float:
    value = payload[name]
    # bool is an int, and Python's json reads NaN and Infinity: none of them is a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid_token()
    return float(value)


def _datetime(payload: dict[str, Any], name: str) -> datetime:
    try:
        return datetime.fromtimestamp(_seconds(payload, name), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _invalid_token() from exc


def _numeric_date(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("token times must be timezone-aware")
    return int(moment.timestamp())


def _younger_than(since: datetime, now: datetime, age: timedelta) -> bool:
    # A clock that went backwards counts as stale, so the cache cannot freeze.
    return timedelta(0) <= now - since < age


def _invalid_token() -> Unauthenticated:
    return Unauthenticated("the access token is invalid", code="invalid_token")
