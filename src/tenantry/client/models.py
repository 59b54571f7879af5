"""The wire shapes the client returns, read from tenantry's JSON (see /openapi.json): the
answers of sign-in, the authorizer and the caller's account, and the shared `Page` and
`Written`. Organisations, members, roles and teams are in `models_org`.

Only the members a product needs are typed; `body` keeps the whole answer where a shape
may grow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Body = dict[str, Any]


def moment(text: str) -> datetime:
    """An RFC 3339 time as tenantry writes it (UTC, `Z`)."""
    return datetime.fromisoformat(text)


def maybe_moment(text: str | None) -> datetime | None:
    return None if text is None else moment(text)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next one (None: the last)."""

    items: tuple[T, ...]
    next_cursor: str | None

    @classmethod
    def of(cls, body: Body, item: Callable[[Body], T]) -> Page[T]:
        return cls(tuple(item(each) for each in body["items"]), body.get("next_cursor"))


@dataclass(frozen=True)
class Written(Generic[T]):
    """An access change's answer: what it wrote (`value`, None for a 204), its `body` (`{}`
    for a 204), and the organisation's authz epoch after it, to pass as `min_epoch` to a
    later check (read-your-writes)."""

    body: Body
    epoch: int
    value: T

    @property
    def id(self) -> str:
        """The id of what was made (a role, a team)."""
        return str(self.body["id"])

    @classmethod
    def of(cls, body: Body, epoch: int, parse: Callable[[Body], T]) -> Written[T]:
        return cls(body, epoch, parse(body))


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    organisation_id: str | None
    token_type: str = "Bearer"  # noqa: S105 - a scheme, not a secret

    @classmethod
    def of(cls, body: Body) -> TokenPair:
        return cls(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            expires_in=int(body["expires_in"]),
            organisation_id=body.get("organisation_id"),
            token_type=body.get("token_type", "Bearer"),
        )


@dataclass(frozen=True)
class Grant:
    """Why a permission is allowed: the pattern held and where it comes from
    (`org_role:ADMIN`, `role:rol_…(Name)`, `team:team_…/LEAD`, `team:team_…/rol_…(Name)`)."""

    pattern: str
    path: str
    team_id: str | None

    @classmethod
    def of(cls, body: Body) -> Grant:
        return cls(pattern=body["pattern"], path=body["path"], team_id=body.get("team_id"))


@dataclass(frozen=True)
class Decision:
    permission: str
    allowed: bool
    reason: str  # `granted`, `no_matching_permission`, `not_a_member`, … (docs/authorizer.md)
    grant: Grant | None  # only when asked with `explain=True`, and only for an allowed one

    @classmethod
    def of(cls, body: Body) -> Decision:
        grant = body.get("grant")
        return cls(
            permission=body["permission"],
            allowed=bool(body["allowed"]),
            reason=body["reason"],
            grant=Grant.of(grant) if grant else None,
        )


@dataclass(frozen=True)
class Authorization:
    """The answer to one check: `allowed` only if every permission asked about is."""

    allowed: bool
    decisions: tuple[Decision, ...]
    user_id: str
    organisation_id: str
    org_role: str | None
    team_ids: tuple[str, ...]
    epoch: int | None  # the organisation's authz epoch the answer was read at

    @property
    def denied(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @classmethod
    def of(cls, body: Body) -> Authorization:
        return cls(
            allowed=bool(body["allowed"]),
            decisions=tuple(Decision.of(d) for d in body["decisions"]),
            user_id=body["user_id"],
            organisation_id=body["organisation_id"],
            org_role=body.get("org_role"),
            team_ids=tuple(body.get("team_ids") or ()),
            epoch=body.get("epoch"),
        )


@dataclass(frozen=True)
class User:
    """An account, as sign-up and email verification answer with it."""

    id: str
    email: str  # normalised (NFKC, lower case)
    name: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, body: Body) -> User:
        return cls(
            id=body["id"],
            email=body["email"],
            name=body["name"],
            email_verified=bool(body["email_verified"]),
            created_at=moment(body["created_at"]),
        )


@dataclass(frozen=True)
class Me:
    id: str
    email: str
    name: str
    email_verified: bool
    organisation_id: str | None  # the organisation the token is for; None: account-level
    org_role: str | None  # as the token states it
    created_at: datetime
    body: Body

    @classmethod
    def of(cls, body: Body) -> Me:
        return cls(
            id=body["id"],
            email=body["email"],
            name=body["name"],
            email_verified=bool(body["email_verified"]),
            organisation_id=body.get("organisation_id"),
            org_role=body.get("org_role"),
            created_at=moment(body["created_at"]),
            body=body,
        )


@dataclass(frozen=True)
class Session:
    """One of the caller's live sessions."""

    id: str
    created_at: datetime
    last_used_at: datetime  # the latest login or refresh
    expires_at: datetime  # refreshing does not move it
    organisation_id: str | None
    user_agent: str | None
    ip_address: str | None
    current: bool  # the session of the token that asked

    @classmethod
    def of(cls, body: Body) -> Session:
        return cls(
            id=body["id"],
            created_at=moment(body["created_at"]),
            last_used_at=moment(body["last_used_at"]),
            expires_at=moment(body["expires_at"]),
            organisation_id=body.get("organisation_id"),
            user_agent=body.get("user_agent"),
            ip_address=body.get("ip_address"),
            current=bool(body["current"]),
        )


@dataclass(frozen=True)
class Jwk:
    """One public signing key; `body` is the whole JWK, for a JWT library."""

    kid: str
    kty: str
    alg: str
    use: str
    body: Body

    @classmethod
    def of(cls, body: Body) -> Jwk:
        return cls(kid=body["kid"], kty=body["kty"], alg=body["alg"], use=body["use"], body=body)


@dataclass(frozen=True)
class Jwks:
    """Every key that may have signed a live access token, and the next one; `body` is the
    JWK Set as served (`PyJWKSet.from_dict(jwks.body)`)."""

    keys: tuple[Jwk, ...]
    body: Body

    def key(self, kid: str) -> Jwk | None:
        return next((key for key in self.keys if key.kid == kid), None)

    @classmethod
    def of(cls, body: Body) -> Jwks:
        return cls(keys=tuple(Jwk.of(key) for key in body["keys"]), body=body)


@dataclass(frozen=True)
class OpenIdConfiguration:
    issuer: str
    jwks_uri: str
    token_endpoint: str
    response_types_supported: tuple[str, ...]
    subject_types_supported: tuple[str, ...]
    id_token_signing_alg_values_supported: tuple[str, ...]
    token_endpoint_auth_methods_supported: tuple[str, ...]
    claims_supported: tuple[str, ...]

    @classmethod
    def of(cls, body: Body) -> OpenIdConfiguration:
        listed = (
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_methods_supported",
            "claims_supported",
        )
        return cls(
            issuer=body["issuer"],
            jwks_uri=body["jwks_uri"],
            token_endpoint=body["token_endpoint"],
            **{name: tuple(body.get(name) or ()) for name in listed},
        )
