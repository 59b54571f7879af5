"""`authorize`: may the bearer of this token do these things in this organisation (and team)?

The answer is always a decision with its reason, never a refusal of the question: a token
whose session ended, that is for another organisation, or whose member left, is answered
"no" with why (`token_revoked`, `org_mismatch`, `membership_inactive`, ...). Only a token
that is not tenantry's at all (forged, expired, malformed) is a 401.

A token of a trusted external issuer (`identities`) is decided the same way for the user its
subject is linked to and the organisation its claim names; it has no tenantry session, so
`token_revoked` is never its answer.

Decisions come from the member's snapshot, compiled once and kept per process for as long as
the organisation's `authz_epoch` is the one the check reads: the organisation is read on every
check, the session too unless the change feed vouches for it (`feed.py`), the rest only after
a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.access.checks import read_member_access
from tenantry.authorizer.feed import KnownSession
from tenantry.authorizer.memory import AuthorizerMemory
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.decision import CompiledAccess, Decision, Reason, refused
from tenantry.domain.errors import Conflict, Invalid
from tenantry.domain.model import MembershipStatus, Organisation, OrgStatus
from tenantry.domain.permissions import parse_permission
from tenantry.domain.roles import OrgRole
from tenantry.identities.issuers import TrustedIssuers
from tenantry.identities.service import external_bearer
from tenantry.sessions.ports import AccessClaims
from tenantry.sessions.service import session_ended_because, verified_claims
from tenantry.unit_of_work import UnitOfWork

MAX_PERMISSIONS_PER_CHECK = 100


@dataclass(frozen=True, slots=True)
class Authorization:
    decisions: list[Decision]
    user_id: str
    org_id: str
    org_role: OrgRole | None = None
    team_ids: tuple[str, ...] = ()
    epoch: int | None = None  # the organisation's authz epoch the answer was read at
    # What the member holds (for a caller that passes it on, as the Lambda authorizer's
    # context does); None when the answer came before any membership was read.
    snapshot: AccessSnapshot | None = None

    @property
    def allowed(self) -> bool:
        """True only if every permission asked about is allowed."""
        return bool(self.decisions) and all(d.allowed for d in self.decisions)


@dataclass(frozen=True, slots=True)
class Bearer:
    """Whom the token speaks for. `claims` are a tenantry token's, whose session must still
    hold; a trusted issuer's token has none."""

    user_id: str
    org_id: str | None
    claims: AccessClaims | None = None


def authorize(
    uow: UnitOfWork,
    deps: ServiceDeps,
    memory: AuthorizerMemory,
    token: str,
    *,
    org_id: str | None,
    permissions: list[str],
    team_id: str | None = None,
    min_epoch: int | None = None,
    issuers: TrustedIssuers | None = None,
) -> Authorization:
    """`org_id` None asks about the organisation the token is for."""
    wanted = _checked_permissions(permissions)
    bearer = _bearer(uow, deps, issuers, token)
    org_id = org_id or bearer.org_id or ""  # "" (a token for no organisation): org_mismatch
    # The token's organisation: its denials are recorded there (row-level security admits no
    # other), and nothing of the one asked about is read unless the two are the same.
    uow.bind(org_id=bearer.org_id or org_id or None, user_id=bearer.user_id)
    answer = _decide(uow, deps, memory, bearer, org_id, wanted, team_id, min_epoch)
    _record_denials(uow, deps, memory, bearer, answer, team_id)
    return answer


def _bearer(
    uow: UnitOfWork, deps: ServiceDeps, issuers: TrustedIssuers | None, token: str
) -> Bearer:
    external = external_bearer(uow, deps, issuers, token) if issuers is not None else None
    if external is not None:
        return Bearer(external.user_id, external.org_id)
    claims = verified_claims(deps, token)
    return Bearer(claims.user_id, claims.org_id, claims)


def _decide(
    uow: UnitOfWork,
    deps: ServiceDeps,
    memory: AuthorizerMemory,
    bearer: Bearer,
    org_id: str,
    permissions: list[str],
    team_id: str | None,
    min_epoch: int | None,
) -> Authorization:
    def no(reason: Reason, org: Organisation | None = None) -> Authorization:
        decisions = [refused(p, reason) for p in permissions]
        epoch = org.authz_epoch if org is not None else None
        return Authorization(decisions, bearer.user_id, org_id, epoch=epoch)

    if bearer.claims is not None and not _session_holds(uow, deps, memory, bearer.claims):
        return no(Reason.TOKEN_REVOKED)
    if bearer.org_id != org_id:
        return no(Reason.ORG_MISMATCH)
    user_id = bearer.user_id
    org = uow.organisations.get(org_id)
    if org is None or org.status is not OrgStatus.ACTIVE:
        return no(Reason.ORG_INACTIVE, org)
    _require_epoch(org, min_epoch)
    compiled = memory.snapshots.get(org_id, user_id, org.authz_epoch)
    if compiled is None:
        membership = uow.memberships.get(org_id, user_id)
        if membership is None:
            return no(Reason.NOT_A_MEMBER, org)
        if membership.status is not MembershipStatus.ACTIVE:
            return no(Reason.MEMBERSHIP_INACTIVE, org)
        parts = read_member_access(uow, org, user_id, membership=membership)
        if parts is None:
            return no(Reason.MEMBERSHIP_INACTIVE, org)
        compiled = CompiledAccess.of(parts.snapshot())
        memory.snapshots.put(compiled)
    team_exists = _team_exists(uow, compiled, org_id, team_id)
    snapshot = compiled.snapshot
    return Authorization(
        [compiled.decide(p, team_id, team_exists=team_exists) for p in permissions],
        user_id,
        org_id,
        snapshot.org_role,
        snapshot.team_ids,
        snapshot.epoch,
        snapshot,
    )


def _session_holds(
    uow: UnitOfWork, deps: ServiceDeps, memory: AuthorizerMemory, claims: AccessClaims
) -> bool:
    """Whether the token's session still holds: from memory while the change feed vouches
    for it (`feed.py`), else read from the store, and remembered when found live."""
    memory.ensure_listening()
    generation = memory.sessions.vouched()
    known = memory.sessions.get(claims.session_id, generation)
    read = known is None
    if known is None:
        known = _read_session(uow, claims)
    now = deps.clock.now()
    if known is None or session_ended_because(known.session, known.user_session_epoch, claims, now):
        return False
    if read:
        memory.sessions.remember(known, generation)
    return True


def _read_session(uow: UnitOfWork, claims: AccessClaims) -> KnownSession | None:
    session = uow.sessions.get(claims.session_id)
    user = uow.users.get(claims.user_id)
    if session is None or user is None:
        return None
    return KnownSession(session, user.session_epoch)


def _checked_permissions(permissions: list[str]) -> list[str]:
    if not 1 <= len(permissions) <= MAX_PERMISSIONS_PER_CHECK:
        raise Invalid(
            f"ask about 1 to {MAX_PERMISSIONS_PER_CHECK} permissions",
            code="invalid_permission_count",
        )
    return [parse_permission(p) for p in permissions]


def _require_epoch(org: Organisation, min_epoch: int | None) -> None:
    """Read-your-writes: an answer is never older than the epoch a write returned. The store
    is read on every check, so only an epoch that was never returned can be ahead of it."""
    if min_epoch is not None and org.authz_epoch < min_epoch:
        raise Conflict(
            f"the organisation is at authz epoch {org.authz_epoch}, not yet {min_epoch}",
            code="epoch_not_reached",
            extra={"epoch": org.authz_epoch},
        )


def _team_exists(
    uow: UnitOfWork, compiled: CompiledAccess, org_id: str, team_id: str | None
) -> bool:
    if team_id is None or team_id in compiled.teams:
        return True
    return uow.teams.get(org_id, team_id) is not None


def _record_denials(
    uow: UnitOfWork,
    deps: ServiceDeps,
    memory: AuthorizerMemory,
    bearer: Bearer,
    answer: Authorization,
    team_id: str | None,
) -> None:
    """One AUTHORIZATION DENIED event per denied permission, in the token's organisation,
    at most once a minute per (user, permission); the count left out goes in the next."""
    now = deps.clock.now()
    for decision in answer.decisions:
        if decision.allowed:
            continue
        left_out = memory.denials.admit(answer.org_id, bearer.user_id, decision.permission, now)
        if left_out is None:
            continue
        details: dict[str, object] = {"organisation_id": answer.org_id, "suppressed": left_out}
        if team_id is not None:
            details["team_id"] = team_id
        draft = AuditDraft(
            event_type=EventType.AUTHORIZATION,
            action=decision.permission,
            outcome=Outcome.DENIED,
            org_id=bearer.org_id,
            actor_id=bearer.user_id,
            actor_type=ActorType.USER,
            resource_type="permission",
            resource_id=team_id or answer.org_id,
            reason=decision.reason.value,
            details=details,
        )
        uow.audit.append(draft, at=now)
