"""The organisations' wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.domain import org_settings
from tenantry.domain.model import Membership, Organisation
from tenantry.http.wire import Input


class OrganisationIn(Input):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=1, max_length=100)


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
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(default=None, description=SETTINGS_PATCH)


# Rendered after the commit, from what the use case wrote: its settings passed `org_settings`
# (plain JSON, shallow enough for any serialiser) and its name `clean_name`, so rendering
# cannot fail once the change is stored.
class OrganisationOut(BaseModel):
    id: str
    slug: str
    name: str
    status: str
    settings: dict[str, Any] = Field(
        description="The organisation's settings, a JSON object within the limits that "
        "`PATCH /v1/organisations/{org_id}` describes."
    )
    created_at: datetime
    provisioning_step: str | None = None
    provisioning_error: str | None = None

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
        )


class MyOrganisationOut(OrganisationOut):
    org_role: str

    @classmethod
    def of_membership(cls, org: Organisation, membership: Membership) -> MyOrganisationOut:
        return cls(**OrganisationOut.of(org).model_dump(), org_role=membership.org_role.value)


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    org_role: str
    status: str
    joined_at: datetime

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
