"""The wire shapes the client returns, read from tenantry's JSON (see /openapi.json).

Only the members a product needs are typed; `body` keeps the whole answer where a shape
may grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds until the access token expires
    organisation_id: str | None
    token_type: str = "Bearer"  # noqa: S105 - a scheme, not a secret

    @classmethod
    def of(cls, body: dict[str, Any]) -> TokenPair:
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
    def of(cls, body: dict[str, Any]) -> Grant:
        return cls(pattern=body["pattern"], path=body["path"], team_id=body.get("team_id"))


@dataclass(frozen=True)
class Decision:
    permission: str
    allowed: bool
    reason: str  # `granted`, `no_matching_permission`, `not_a_member`, … (docs/authorizer.md)
    grant: Grant | None  # only when asked with `explain=True`, and only for an allowed one

    @classmethod
    def of(cls, body: dict[str, Any]) -> Decision:
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
    def of(cls, body: dict[str, Any]) -> Authorization:
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
class Me:
    id: str
    email: str
    name: str
    email_verified: bool
    organisation_id: str | None  # the organisation the token is for; None: account-level
    org_role: str | None  # as the token states it
    body: dict[str, Any]

    @classmethod
    def of(cls, body: dict[str, Any]) -> Me:
        return cls(
            id=body["id"],
            email=body["email"],
            name=body["name"],
            email_verified=bool(body["email_verified"]),
            organisation_id=body.get("organisation_id"),
            org_role=body.get("org_role"),
            body=body,
        )


@dataclass(frozen=True)
class Written:
    """An access change's answer: its body (`{}` for a 204) and the organisation's authz
    epoch after it, to pass as `min_epoch` to a later check (read-your-writes)."""

    body: dict[str, Any]
    epoch: int

    @property
    def id(self) -> str:
        """The id of what was made (a role, a team)."""
        return str(self.body["id"])
