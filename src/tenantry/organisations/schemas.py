"""The organisations' wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.domain.model import Membership, Organisation
from tenantry.http.wire import Input


class OrganisationIn(Input):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=1, max_length=100)


class OrganisationPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


class OrganisationOut(BaseModel):
    id: str
    slug: str
    name: str
    status: str
    settings: dict[str, Any]
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
