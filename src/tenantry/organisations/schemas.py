"""The organisations' wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.domain import org_settings
from tenantry.domain.model import Membership, Organisation
from tenantry.http.wire import DISPLAY_NAME, Input


class OrganisationIn(Input):
    name: str = Field(min_length=1, max_length=200, description=DISPLAY_NAME)
    slug: str = Field(
        min_length=1,
        max_length=100,
        description="A unique handle for URLs: 3 to 63 characters of `a-z`, `0-9` and `-`, "
        "neither starting nor ending with `-`, no `--`, not a reserved word. It never "
        "changes, and stays taken after the organisation is deleted (409 `slug_taken`).",
    )


SETTINGS_PATCH = (
    "Changes to the organisation's settings, merged shallowly into the stored ones: each "
    "top-level key given replaces the stored value whole, a key set to `null` is deleted, keys "
    "left out are kept. The result must be plain JSON within these limits, or the request is "
    "refused with 422 `invalid_settings` (its `path` is a JSON Pointer to the offending "
    f"value) and nothing changes: at most {org_settings.MAX_DEPTH} levels of nesting (the "
    f"settings object is level 1); at most {org_settings.MAX_KEYS_PER_OBJECT} keys per object "
    f"and {org_settings.MAX_KEYS} in all; keys of 1 to {org_settings.MAX_KEY_LENGTH} "
    f"characters, strings of at most {org_settings.MAX_STRING_LENGTH}, neither holding NUL or "
    f"unpaired surrogates; numbers within ±{org_settings.MAX_SAFE_INTEGER} (2^53 - 1), finite "
    "ones only; `null` only at the top level. The merged settings may take at most "
    f"{org_settings.MAX_BYTES} bytes as compact UTF-8 JSON (422 `settings_too_large`)."
)


class OrganisationPatch(Input):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=f"{DISPLAY_NAME} Null or absent: the name stays.",
    )
    settings: dict[str, Any] | None = Field(default=None, description=SETTINGS_PATCH)


# Rendered after the commit, from what the use case wrote: its settings passed `org_settings`
# (plain JSON, shallow enough for any serialiser) and its name `clean_name`, so rendering
# cannot fail once the change is stored.
class OrganisationOut(BaseModel):
    id: str = Field(description="The organisation's id (`org_…`); never changes.")
    slug: str = Field(description="The organisation's unique slug; never changes.")
    name: str = Field(description="The display name.")
    status: str = Field(
        description="`PROVISIONING` (its provisioning steps are running), `ACTIVE`, or "
        "`FAILED` (a step failed; `POST .../provisioning/retry` runs them again)."
    )
    settings: dict[str, Any] = Field(
        description="The organisation's settings, a JSON object within the limits that "
        "`PATCH /v1/organisations/{org_id}` describes."
    )
    created_at: datetime = Field(description="When it was registered (RFC 3339, UTC).")
    provisioning_step: str | None = Field(
        None, description="The provisioning step that failed; null unless `status` is `FAILED`."
    )
    provisioning_error: str | None = Field(
        None,
        description="Why that step failed, in words fit for members; null unless `status` "
        "is `FAILED`.",
    )
    provisioning_workflow_id: str | None = Field(
        None,
        description="With `TENANTRY_WORKFLOWS=temporal`: the id of the Temporal workflow that "
        "provisions it (or last did), once it has begun; null with the inline engine.",
    )
    provisioning_run_id: str | None = Field(
        None, description="The run of that workflow (a retry is a new run)."
    )

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls(
            id=org.id,
            slug=org.slug,
            name=org.name,
            status=org.status.value,
            settings=org.settings,
            created_at=org.created_at,
            provisioning_step=org.provisioning_step,
            provisioning_error=org.provisioning_error,
            provisioning_workflow_id=org.provisioning_workflow_id,
            provisioning_run_id=org.provisioning_run_id,
        )


class MyOrganisationOut(OrganisationOut):
    org_role: str = Field(
        description="The caller's role in the organisation: `OWNER`, `ADMIN` or `MEMBER`."
    )

    @classmethod
    def of_membership(cls, org: Organisation, membership: Membership) -> MyOrganisationOut:
        return cls(**OrganisationOut.of(org).model_dump(), org_role=membership.org_role.value)


class MemberOut(BaseModel):
    user_id: str = Field(description="The member's user id (`usr_…`).")
    email: str = Field(description="The member's email address as it was when they joined.")
    name: str = Field(description="The member's display name as it was when they joined.")
    org_role: str = Field(description="The member's role: `OWNER`, `ADMIN` or `MEMBER`.")
    status: str = Field(description="`ACTIVE`, or `ENDED` once the membership is over.")
    joined_at: datetime = Field(description="When the membership began (RFC 3339, UTC).")

    @classmethod
    def of(cls, member: Membership) -> MemberOut:
        return cls(
            user_id=member.user_id,
            email=member.email,
            name=member.name,
            org_role=member.org_role.value,
            status=member.status.value,
            joined_at=member.joined_at,
        )
