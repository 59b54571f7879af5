"""Who is calling: a verified access token checked against live session and membership."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.domain.audit import ActorType
from tenantry.domain.model import Membership, Organisation
from tenantry.domain.roles import OrgRole


@dataclass(frozen=True, slots=True)
class Standing:
    """The organisation and the caller's live membership of it, as the bearer check read them
    in the use case's own unit of work (so the access checks need not read them again)."""

    org: Organisation
    membership: Membership


@dataclass(frozen=True, slots=True)
class Principal:
    """`org_role` is the member's role as the bearer check read it from the membership, for
    display; permissions are always computed from the access snapshot (`access.checks`)."""

    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_role: OrgRole | None = None
    actor_type: ActorType = ActorType.USER
    standing: Standing | None = None


SYSTEM = Principal(user_id="system", actor_type=ActorType.SYSTEM)
