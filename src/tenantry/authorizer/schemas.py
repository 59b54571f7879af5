"""The authorizer's wire shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from tenantry.authorizer.service import MAX_PERMISSIONS_PER_CHECK, Authorization
from tenantry.domain.decision import Decision
from tenantry.domain.permissions import MAX_LENGTH
from tenantry.http.wire import Input

PERMISSION = (
    "A permission, 2 to 4 segments of `a-z`, `0-9`, `_` or `-` joined by `:` (`site:publish`); "
    "no wildcards (422 `invalid_permission` otherwise)."
)


class AuthorizeIn(Input):
    organisation_id: str = Field(
        min_length=1, max_length=40, description="The organisation the check is about."
    )
    permission: str | None = Field(
        default=None, min_length=1, max_length=MAX_LENGTH, description=PERMISSION
    )
    permissions: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PERMISSIONS_PER_CHECK,
        description=f"Up to {MAX_PERMISSIONS_PER_CHECK} permissions, checked together; "
        "`allowed` is true only if every one is. Give this or `permission`, not both.",
    )
    team_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Check within this team: the caller's team role and TEAM-scoped roles "
        "there count too.",
    )
    min_epoch: int | None = Field(
        default=None,
        ge=0,
        le=2**53 - 1,
        description="Answer from state at least this fresh: the `Tenantry-Authz-Epoch` a "
        "write returned (read-your-writes). An epoch the organisation has not reached is 409 "
        "`epoch_not_reached`.",
    )
    explain: bool = Field(
        default=False, description="Include, for each allowed permission, the grant that allows it."
    )

    @model_validator(mode="after")
    def _one_way_to_ask(self) -> AuthorizeIn:
        if (self.permission is None) == (self.permissions is None):
            raise ValueError("give `permission` or `permissions`, not both and not neither")
        return self

    @property
    def asked(self) -> list[str]:
        return [self.permission] if self.permission is not None else list(self.permissions or [])


class GrantOut(BaseModel):
    pattern: str = Field(description="The permission or pattern held that matched.")
    path: str = Field(
        description="Where it comes from: `org_role:ADMIN`, `role:rol_…(Name)`, "
        "`team:team_…/LEAD` or `team:team_…/rol_…(Name)`."
    )
    team_id: str | None = Field(description="The team the grant is limited to, if any.")


class DecisionOut(BaseModel):
    permission: str = Field(description="The permission asked about.")
    allowed: bool = Field(description="Whether the caller holds it.")
    reason: str = Field(
        description="`granted`, `no_matching_permission`, `not_a_member`, "
        "`membership_inactive`, `org_inactive`, `org_mismatch`, `token_revoked`, "
        "`team_not_found` or `not_in_team`."
    )
    grant: GrantOut | None = Field(
        default=None, description="With `explain`: the grant that allows it (most specific)."
    )

    @classmethod
    def of(cls, decision: Decision, *, explain: bool) -> DecisionOut:
        grant = decision.grant
        shown = (
            GrantOut(pattern=grant.pattern, path=grant.path, team_id=grant.team_id)
            if explain and grant is not None
            else None
        )
        return cls(
            permission=decision.permission,
            allowed=decision.allowed,
            reason=decision.reason.value,
            grant=shown,
        )


class AuthorizeOut(BaseModel):
    allowed: bool = Field(description="True only if every permission asked about is allowed.")
    decisions: list[DecisionOut] = Field(description="One decision per permission, in order.")
    user_id: str = Field(description="The token's user.")
    organisation_id: str = Field(description="The organisation asked about.")
    org_role: str | None = Field(description="The user's organisation role there, if a member.")
    team_ids: list[str] = Field(description="The user's teams there.")
    epoch: int | None = Field(
        description="The organisation's authz epoch the answer was read at (null when the "
        "token has no standing there)."
    )

    @classmethod
    def of(cls, answer: Authorization, *, explain: bool) -> AuthorizeOut:
        return cls(
            allowed=answer.allowed,
            decisions=[DecisionOut.of(d, explain=explain) for d in answer.decisions],
            user_id=answer.user_id,
            organisation_id=answer.org_id,
            org_role=answer.org_role.value if answer.org_role else None,
            team_ids=list(answer.team_ids),
            epoch=answer.epoch,
        )
