"""Tokens of trusted external issuers (a Cognito user pool), verified as strictly as tenantry
verifies its own: read with `read_compact` first; the algorithm both allowed for the issuer
and the one of the key its `kid` names; times against the injected clock with `CLOCK_SKEW`;
`iss` exactly, and `aud` or `client_id`. A header that points at keys (`jku`, `jwk`, `x5u`,
`x5c`) refuses the token: keys come only from the issuer's configured JWKS URL.

The key sets (`RemoteKeySet`) live as long as the process; building them fetches nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from tenantry.domain.errors import Unavailable
from tenantry.identities.ports import MAX_SUBJECT_LENGTH
from tenantry.settings import TrustedIssuer
from tenantry.tokens.access_token import check_times, invalid_token
from tenantry.tokens.compact import CompactJws, MalformedToken, read_compact
from tenantry.tokens.jwks import KEY_POINTING_HEADERS, Fetch, KeysUnavailable, RemoteKeySet

MAX_ORG_ID_LENGTH = 40  # tenantry's ids fit the 40-character id columns
# `crit` names header extensions a verifier must understand (RFC 7515 §4.1.11); tenantry
# understands none, so a token that carries one is refused rather than half-checked.
_REFUSED_HEADERS = KEY_POINTING_HEADERS | {"crit"}
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub"]


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who a verified token of a trusted issuer says its bearer is."""

    issuer: str
    subject: str
    org_id: str | None  # the organisation claim: a tenantry organisation id, if present
    email: str | None
    email_verified: bool


class Issuer:
    """One trusted issuer: its settings and the keys at its JWKS URL."""

    def __init__(self, settings: TrustedIssuer, keys: RemoteKeySet) -> None:
        self.settings = settings
        self.keys = keys

    def verify(self, token: str, read: CompactJws, now: datetime) -> ExternalIdentity:
        """The identity in `token` (`read` is its strict reading), if this issuer signed it
        for us and it is valid at `now`; else `Unauthenticated` (`invalid_token`,
        `token_expired`), or `Unavailable` `issuer_keys_unavailable` when the issuer's keys
        were never fetched and cannot be now."""
        key = self._key_for(read.header)
        payload = self._decoded(token, key)
        check_times(payload, now, nbf_required=False)
        self._check_recipient(payload)
        return self._identity(payload)

    def _key_for(self, header: dict[str, Any]) -> jwt.PyJWK:
        alg, kid = header.get("alg"), header.get("kid")
        # Checked before any fetch, so that no header of a token's choosing costs a request.
        if not _REFUSED_HEADERS.isdisjoint(header) or alg not in self.settings.algorithms:
            raise invalid_token()
        if not isinstance(kid, str) or not kid:
            raise invalid_token()
        try:
            key = self.keys.key_for(kid)
        except KeysUnavailable as error:
            raise Unavailable(
                f"the keys of {self.settings.issuer} could not be fetched",
                code="issuer_keys_unavailable",
            ) from error
        if key is None or key.algorithm_name != alg:
            raise invalid_token()
        return key

    def _decoded(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        audience = self.settings.audience
        try:
            # The algorithm is the key's; times are checked afterwards, on the injected clock.
            decoded: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=audience,
                issuer=self.settings.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": audience is not None,
                    "require": _REQUIRED_CLAIMS,
                },
            )
        except jwt.PyJWTError as error:
            raise invalid_token() from error
        return decoded

    def _check_recipient(self, payload: dict[str, Any]) -> None:
        client_id, token_use = self.settings.client_id, self.settings.token_use
        # Cognito access tokens carry no `aud`: the app client they are for is `client_id`.
        if client_id is not None and payload.get("client_id") != client_id:
            raise invalid_token()
        if token_use is not None and payload.get("token_use") != token_use:
            raise invalid_token()

    def _identity(self, payload: dict[str, Any]) -> ExternalIdentity:
        subject = payload["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
            raise invalid_token()
        email = payload.get(self.settings.email_claim)
        verified = payload.get(self.settings.email_verified_claim)
        return ExternalIdentity(
            issuer=self.settings.issuer,
            subject=subject,
            org_id=_org_id(payload.get(self.settings.organisation_claim)),
            email=email if isinstance(email, str) and email else None,
            # Cognito sends the claim as a JSON boolean in some tokens and the string "true"
            # in others.
            email_verified=verified is True or verified == "true",
        )


class TrustedIssuers:
    """The trusted issuers by their exact `iss`."""

    def __init__(
        self,
        trusted: Sequence[TrustedIssuer] = (),
        *,
        monotonic: Callable[[], float] = time.monotonic,
        fetch: Fetch | None = None,
    ) -> None:
        self._by_name = {
            settings.issuer: Issuer(settings, _key_set(settings, monotonic, fetch))
            for settings in trusted
        }

    def get(self, issuer: str) -> Issuer | None:
        return self._by_name.get(issuer)

    def of_token(self, token: str) -> tuple[Issuer, CompactJws] | None:
        """The trusted issuer `token` names in `iss` (read strictly, unverified) and that
        reading; None for any other token, which is then tenantry's own to check or refuse."""
        if not self._by_name:
            return None
        try:
            read = read_compact(token)
        except MalformedToken:
            return None
        named = read.claims.get("iss")
        issuer = self._by_name.get(named) if isinstance(named, str) else None
        return (issuer, read) if issuer is not None else None


def _key_set(
    settings: TrustedIssuer, monotonic: Callable[[], float], fetch: Fetch | None
) -> RemoteKeySet:
    return RemoteKeySet(
        settings.jwks_url,
        algorithms=frozenset(settings.algorithms),
        ttl=settings.ttl_seconds,
        refetch_interval=settings.refetch_interval_seconds,
        timeout=settings.fetch_timeout_seconds,
        fetch=fetch,
        monotonic=monotonic,
    )


def _org_id(value: object) -> str | None:
    if value is None:
        return None
    # An id, or nothing the store could hold: a refusal, not a 500 from the database.
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ORG_ID_LENGTH:
        raise invalid_token()
    if not (value.isascii() and value.isprintable()):
        raise invalid_token()
    return value
