"""The wire shape of an identity link (the CLI's `--json`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.identities.ports import IdentityLink


class IdentityLinkOut(BaseModel):
    issuer: str = Field(description="The trusted issuer's `iss`.")
    subject: str = Field(description="The `sub` the issuer gives the user.")
    user_id: str = Field(description="The tenantry user the subject is.")
    method: str = Field(description="`verified_email` (on first use) or `operator` (the CLI).")
    created_at: datetime

    @classmethod
    def of(cls, link: IdentityLink) -> IdentityLinkOut:
        return cls(
            issuer=link.issuer,
            subject=link.subject,
            user_id=link.user_id,
            method=link.method.value,
            created_at=link.created_at,
        )
