"""Who is calling: a verified access token checked against live session and membership."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.domain.audit import ActorType
from tenantry.domain.permissions import matching_grant
from tenantry.domain.roles import ROLE_GRANTS, OrgRole


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_role: OrgRole | None = None
    actor_type: ActorType = ActorType.USER

    @property
    def grants(self) -> frozenset[str]:
        return ROLE_GRANTS[self.org_role] if self.org_role else frozenset()

    def grant_for(self, permission: str) -> str | None:
        return matching_grant(self.grants, permission)


SYSTEM = Principal(user_id="system", actor_type=ActorType.SYSTEM)
