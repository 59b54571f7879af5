"""Invitations: create, list, resend, revoke; look one up and accept it by its token.

An invitation binds what the invitee gets (an org role, custom roles, a team and team role)
when it is made, so the inviter may bind only what they could grant themselves, checked as
the member, role and team use cases check it. Creating one bumps the organisation's epoch:
it is decided on the inviter's access, so it commits only on that access.

Acceptance is one transaction: the invitation turns ACCEPTED (expecting it PENDING under the
token that was shown), the user appears if new (no placeholder users before), and the
membership, role assignments, team membership with its `member_count`, the epoch and the
audit events are written together; the answer carries an org-scoped token pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenantry.access.checks import require_holding, require_permission
from tenantry.access.epoch import Changed, bump_epoch
from tenantry.access.events import access_event, refusals_audited
from tenantry.accounts.email_address import check_new_account_email, normalise_email
from tenantry.accounts.service import add_user, check_new_account
from tenantry.context import ServiceDeps
from tenantry.domain.access import AccessSnapshot
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Conflict, Forbidden, Gone, Invalid, NotFound, RateLimited
from tenantry.domain.ids import hash_secret, new_id
from tenantry.domain.invitations import (
    MAX_CUSTOM_ROLES,
    Invitation,
    InvitationStatus,
    new_invitation_token,
    org_of_token,
)
from tenantry.domain.model import Membership, MembershipStatus, Organisation, OrgStatus, Page, User
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.domain.roles import (
    ORG_ROLE_PERMISSIONS,
    OrgRole,
    Role,
    RoleAssignment,
    RoleScope,
    TeamRole,
)
from tenantry.domain.teams import Team, TeamMembership
from tenantry.sessions.sign_in import ClientInfo, TokenPair, start_session
from tenantry.teams.members import require_team_role_grant
from tenantry.teams.service import team_or_raise
from tenantry.unit_of_work import UnitOfWork

INVITATION = "invitation"
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Binding:
    """What an invitation gives on acceptance."""

    org_role: OrgRole = OrgRole.MEMBER
    role_ids: tuple[str, ...] = ()
    team_id: str | None = None
    team_role: str | None = None


@refusals_audited("invitation.create", INVITATION, EventType.INVITATION)
def create_invitation(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    email: str,
    binding: Binding,
) -> Changed[Invitation]:
    """Invite `email`; the link goes out through the outbox in this transaction."""
    org, access = require_permission(
        uow, principal, org_id, "invitation:create", resource_type=INVITATION, resource_id=org_id
    )
    now = deps.clock.now()
    email, expired = check_invitee(uow, deps, principal, access, email, binding, now)
    within_daily_cap(uow, deps, org_id, 1, now)
    limit_sends(deps, email)
    epoch = bump_epoch(uow, access)
    invitation = send_invitation(
        uow, deps, org, principal, email, binding, now=now, epoch=epoch, replacing=expired
    )
    return Changed(invitation, epoch)


@refusals_audited("invitation:read", INVITATION, EventType.INVITATION)
def list_invitations(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    status: InvitationStatus | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Invitation]:
    check_page_size(limit)
    _allowed(uow, principal, org_id, "invitation:read", org_id)
    now = deps.clock.now()
    return uow.invitations.list(org_id, status=status, now=now, limit=limit, cursor=cursor)


@refusals_audited("invitation:read", INVITATION, EventType.INVITATION)
def get_invitation(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, invitation_id: str
) -> Invitation:
    _allowed(uow, principal, org_id, "invitation:read", invitation_id)
    return invitation_or_raise(uow, org_id, invitation_id)


@refusals_audited("invitation.resend", INVITATION, EventType.INVITATION)
def resend_invitation(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, invitation_id: str
) -> Invitation:
    """A new link (the old one dead at once) and a new expiry; an expired invitation may be
    sent again too. At most `invitation_resends` times an invitation."""
    org = _allowed(uow, principal, org_id, "invitation:create", invitation_id)
    invitation = invitation_or_raise(uow, org_id, invitation_id)
    _require_stored_pending(invitation)
    if invitation.resend_count >= deps.policy.invitation_resends:
        raise Conflict(
            f"the invitation was already sent again {invitation.resend_count} times; "
            "revoke it and invite the address anew",
            code="resend_limit_reached",
        )
    now = deps.clock.now()
    limit_sends(deps, invitation.email)
    token, token_hash = new_invitation_token(org_id)
    resent = invitation.resent(token_hash, now=now, expires_at=now + deps.policy.invitation_ttl)
    uow.invitations.update(resent, expected=invitation)
    uow.outbox.add(deps.composer.invitation_email(resent, org.name, token, resent=True), at=now)
    event = _event(principal, resent, "invitation.resend", None, resend_count=resent.resend_count)
    uow.audit.append(event, at=now)
    return resent


@refusals_audited("invitation.revoke", INVITATION, EventType.INVITATION)
def revoke_invitation(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str, invitation_id: str
) -> Invitation:
    _allowed(uow, principal, org_id, "invitation:revoke", invitation_id)
    invitation = invitation_or_raise(uow, org_id, invitation_id)
    _require_stored_pending(invitation)
    now = deps.clock.now()
    revoked = invitation.ended(InvitationStatus.REVOKED, now=now)
    uow.invitations.update(revoked, expected=invitation)
    uow.audit.append(_event(principal, revoked, "invitation.revoke", None), at=now)
    return revoked


@dataclass(frozen=True, slots=True)
class InvitationView:
    """What the public page of an invitation shows: nothing else about the organisation."""

    invitation: Invitation
    org_name: str
    team_name: str | None
    status: InvitationStatus


def preview_invitation(uow: UnitOfWork, deps: ServiceDeps, token: str) -> InvitationView:
    """The invitation a link names, for anyone holding the link."""
    invitation, org = _by_token(uow, token, action="invitation.preview", caller=None)
    team = uow.teams.get(org.id, invitation.team_id) if invitation.team_id else None
    now = deps.clock.now()
    return InvitationView(
        invitation, org.name, team.name if team else None, invitation.status_at(now)
    )


@dataclass(frozen=True, slots=True)
class Acceptance:
    invitation: Invitation
    membership: Membership
    tokens: TokenPair
    epoch: int


@dataclass(frozen=True, slots=True)
class NewAccount:
    """Who accepts without an account: the invitation's address is theirs, so it counts as
    verified."""

    name: str
    password: str


def accept_invitation(
    uow: UnitOfWork,
    deps: ServiceDeps,
    token: str,
    *,
    caller: Principal | None,
    new_account: NewAccount | None,
    client: ClientInfo,
) -> Acceptance:
    """Accept as the signed-in `caller` (whose verified address must be the invited one), or
    as a new user made from `new_account`."""
    invitation, org = _by_token(uow, token, action="invitation.accept", caller=caller)
    now = deps.clock.now()
    _require_acceptable(invitation, org, now, caller)
    user = _accepting_user(uow, deps, invitation, caller, new_account)
    uow.bind(user_id=user.id)
    former = _refuse_a_member(uow, org.id, invitation.email, user=user)
    membership = Membership(
        org_id=org.id,
        user_id=user.id,
        org_role=invitation.org_role,
        status=MembershipStatus.ACTIVE,
        joined_at=now,
        email=user.email,
        name=user.name,
    )
    # Decided on the organisation as read: a concurrent accept or access change fails this.
    uow.organisations.bump_authz_epoch(org.id, expected=org.authz_epoch)
    epoch = org.authz_epoch + 1
    accepted = invitation.ended(InvitationStatus.ACCEPTED, now=now, by=user.id)
    uow.invitations.update(accepted, expected=invitation)
    if former is None:
        uow.memberships.add(membership)
    else:
        uow.memberships.rejoin(membership)
    actor = Principal(user_id=user.id, actor_type=ActorType.USER, org_id=org.id)
    roles = _grant_roles(uow, actor, invitation, user, now, epoch)
    team = _join_team(uow, actor, invitation, user, now, epoch)
    details = {"roles": [r.id for r in roles], "team_id": team.id if team else None}
    uow.audit.append(_event(actor, accepted, "invitation.accept", epoch, **details), at=now)
    tokens = start_session(uow, deps, user, membership, client)
    return Acceptance(accepted, membership, tokens, epoch)


def check_invitee(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    access: AccessSnapshot,
    email: str,
    binding: Binding,
    now: datetime,
) -> tuple[str, Invitation | None]:
    """The address normalised, if it may be invited with `binding` by this caller; and the
    expired invitation of the address it replaces, if any."""
    email = normalise_email(email)
    check_new_account_email(email, deps.policy)
    _require_binding(uow, principal, access, binding)
    _refuse_a_member(uow, access.org_id, email)
    return email, _pending_or_refuse(uow, access.org_id, email, now)


def send_invitation(
    uow: UnitOfWork,
    deps: ServiceDeps,
    org: Organisation,
    principal: Principal,
    email: str,
    binding: Binding,
    *,
    now: datetime,
    epoch: int,
    replacing: Invitation | None,
) -> Invitation:
    """Write a checked invitation, its email (through the outbox) and its event; an expired
    invitation of the same address, if any, is marked EXPIRED first."""
    if replacing is not None:
        ended = replacing.ended(InvitationStatus.EXPIRED, now=now)
        uow.invitations.update(ended, expected=replacing)
    inviter = uow.users.get(principal.user_id)
    token, token_hash = new_invitation_token(org.id)
    invitation = Invitation(
        id=new_id("inv"),
        org_id=org.id,
        email=email,
        org_role=binding.org_role,
        role_ids=binding.role_ids,
        team_id=binding.team_id,
        team_role=binding.team_role if binding.team_id else None,
        invited_by=principal.user_id,
        inviter_name=(inviter.name if inviter else "") or org.name,
        token_hash=token_hash,
        status=InvitationStatus.PENDING,
        created_at=now,
        expires_at=now + deps.policy.invitation_ttl,
        last_sent_at=now,
    )
    uow.invitations.add(invitation)
    message = deps.composer.invitation_email(invitation, org.name, token, resent=False)
    uow.outbox.add(message, at=now)
    uow.audit.append(_event(principal, invitation, "invitation.create", epoch), at=now)
    return invitation


def _allowed(
    uow: UnitOfWork, principal: Principal, org_id: str, permission: str, resource_id: str
) -> Organisation:
    """The organisation, if the caller holds `permission` there (else an audited refusal
    naming `resource_id`)."""
    org, _ = require_permission(
        uow, principal, org_id, permission, resource_type=INVITATION, resource_id=resource_id
    )
    return org


def invitation_or_raise(uow: UnitOfWork, org_id: str, invitation_id: str) -> Invitation:
    invitation = uow.invitations.get(org_id, invitation_id)
    if invitation is None:
        raise NotFound("invitation not found", code="invitation_not_found")
    return invitation


# --- creating ---------------------------------------------------------------------------------


def _require_binding(
    uow: UnitOfWork, principal: Principal, access: AccessSnapshot, binding: Binding
) -> None:
    """The inviter could grant each part of the binding themselves."""
    org_id = access.org_id
    _require_rank(principal, access, binding.org_role)
    grants = [*ORG_ROLE_PERMISSIONS[binding.org_role]]
    for role in _custom_roles(uow, org_id, binding.role_ids):
        grants.extend(role.permissions)
    require_holding(
        principal,
        access,
        grants,
        action="invitation.create",
        resource_type=INVITATION,
        resource_id=org_id,
    )
    if binding.team_id is None:
        if binding.team_role is not None:
            raise Invalid("a team role needs a team", code="team_role_without_team")
        return
    team_or_raise(uow, org_id, binding.team_id)
    team_role = binding.team_role or TeamRole.MEMBER.value
    require_team_role_grant(
        uow, principal, access, binding.team_id, team_role, action="invitation.create"
    )


def _require_rank(principal: Principal, access: AccessSnapshot, org_role: OrgRole) -> None:
    """Only an OWNER invites an OWNER; nobody invites above their own rank."""
    if access.org_role is None or org_role.rank <= access.org_role.rank:
        return
    owner = org_role is OrgRole.OWNER
    raise Forbidden(
        "only an OWNER invites an OWNER" if owner else "you cannot invite above your own rank",
        code="owner_required" if owner else "rank_exceeded",
    )


def _custom_roles(uow: UnitOfWork, org_id: str, role_ids: tuple[str, ...]) -> list[Role]:
    if len(role_ids) > MAX_CUSTOM_ROLES:
        raise Invalid(f"at most {MAX_CUSTOM_ROLES} custom roles", code="too_many_roles")
    roles = []
    for role_id in dict.fromkeys(role_ids):
        role = uow.roles.get(org_id, role_id)
        if role is None:
            raise NotFound("role not found", code="role_not_found")
        if role.scope is not RoleScope.ORGANISATION:
            raise Invalid(
                "a TEAM role is given as the team role, not bound as a custom role",
                code="role_scope_mismatch",
            )
        roles.append(role)
    return roles


def _refuse_a_member(
    uow: UnitOfWork,
    org_id: str,
    email: str,
    *,
    user: User | None = None,
) -> Membership | None:
    """Refuse an address that is a member; the ENDED membership it had before, if any (its
    row is kept, so accepting rejoins it rather than adding one)."""
    user = user or uow.users.get_by_email(email)
    if user is None:
        return None
    membership = uow.memberships.get(org_id, user.id)
    if membership is not None and membership.status is MembershipStatus.ACTIVE:
        raise Conflict("the address is already a member", code="already_member")
    return membership


def _pending_or_refuse(
    uow: UnitOfWork, org_id: str, email: str, now: datetime
) -> Invitation | None:
    """Refuse an address with a live pending invitation; an expired one is returned, to be
    marked EXPIRED when the new one is written."""
    pending = uow.invitations.pending_for(org_id, email)
    if pending is None or pending.status_at(now) is not InvitationStatus.PENDING:
        return pending
    raise Conflict(
        "a pending invitation for this address already exists; resend it",
        code="invitation_pending",
        extra={"invitation_id": pending.id},
    )


def within_daily_cap(
    uow: UnitOfWork, deps: ServiceDeps, org_id: str, count: int, now: datetime
) -> None:
    """`count` more invitations keep the organisation within its daily cap."""
    cap = deps.policy.invitations_per_org_per_day
    if uow.invitations.count_created_since(org_id, now - _DAY) + count > cap:
        raise RateLimited(
            f"the organisation may make {cap} invitations a day; try again later",
            retry_after=3600,
            code="invitation_limit",
        )


def limit_sends(deps: ServiceDeps, email: str) -> None:
    # The address's mail cap is the one sign-up and reset links count against.
    wait = deps.throttle.begin_mail_request(email=email, ip_address=None)
    if wait is not None:
        raise RateLimited(
            "too many emails to this address; try again later",
            retry_after=wait,
            code="address_mail_limit",
        )


# --- managing ---------------------------------------------------------------------------------


def _require_stored_pending(invitation: Invitation) -> None:
    if invitation.status is not InvitationStatus.PENDING:
        status = invitation.status.value
        raise Conflict(
            f"the invitation is {status.lower()}",
            code="invitation_not_pending",
            extra={"invitation_status": status},
        )


# --- by token ---------------------------------------------------------------------------------


def _by_token(
    uow: UnitOfWork, token: str, *, action: str, caller: Principal | None
) -> tuple[Invitation, Organisation]:
    """The invitation and its organisation; an unknown token is the same 404 whatever is
    wrong with it, on record in the system chain (it names no organisation we can trust)."""
    org_id = org_of_token(token)
    if org_id is not None:
        uow.bind(org_id=org_id)
        invitation = uow.invitations.get_by_token_hash(org_id, hash_secret(token))
        org = uow.organisations.get(org_id)
        if invitation is not None and org is not None and org.status is not OrgStatus.DELETED:
            return invitation, org
    raise NotFound(
        "invitation not found",
        code="invitation_not_found",
        audit=_refusal(action, None, None, caller, "invitation_not_found"),
    )


def _require_acceptable(
    invitation: Invitation, org: Organisation, now: datetime, caller: Principal | None
) -> None:
    status = invitation.status_at(now)
    if status is InvitationStatus.PENDING:
        return
    refusal = _refusal("invitation.accept", org.id, invitation.id, caller, _REFUSED[status])
    if status is InvitationStatus.EXPIRED:
        raise Gone("the invitation has expired", code="invitation_expired", audit=refusal)
    raise Conflict(
        f"the invitation was {status.value.lower()}", code=_REFUSED[status], audit=refusal
    )


_REFUSED = {
    InvitationStatus.ACCEPTED: "invitation_accepted",
    InvitationStatus.REVOKED: "invitation_revoked",
    InvitationStatus.EXPIRED: "invitation_expired",
}


def _accepting_user(
    uow: UnitOfWork,
    deps: ServiceDeps,
    invitation: Invitation,
    caller: Principal | None,
    new_account: NewAccount | None,
) -> User:
    if caller is not None:
        user = uow.users.get(caller.user_id)
        if user is None or not user.is_verified or user.email != invitation.email:
            raise Forbidden(
                "the invitation is for another email address",
                code="invitation_for_another_user",
                audit=_refusal(
                    "invitation.accept",
                    invitation.org_id,
                    invitation.id,
                    caller,
                    "invitation_for_another_user",
                ),
            )
        uow.users.require_exists(user.id)
        return user
    if new_account is None:
        raise Invalid(
            "sign in as the invited address, or send a name and password to make its account",
            code="account_required",
        )
    email, name = check_new_account(
        deps, email=invitation.email, password=new_account.password, name=new_account.name
    )
    if uow.users.get_by_email(email) is not None:
        raise Conflict(
            "the address has an account: sign in and accept as that user", code="email_taken"
        )
    password_hash = deps.passwords.hash(new_account.password)
    return add_user(uow, deps, email=email, name=name, password_hash=password_hash, verified=True)


def _grant_roles(
    uow: UnitOfWork,
    actor: Principal,
    invitation: Invitation,
    user: User,
    now: datetime,
    epoch: int,
) -> list[Role]:
    """The custom roles the invitation bound that still exist (a role deleted since is
    skipped, and the acceptance event says which were given)."""
    roles = [r for r in (uow.roles.get(invitation.org_id, i) for i in invitation.role_ids) if r]
    for role in roles:
        uow.role_assignments.add(
            RoleAssignment(invitation.org_id, user.id, role.id, now, invitation.invited_by)
        )
        uow.audit.append(
            access_event(
                actor,
                invitation.org_id,
                EventType.ROLE_CHANGE,
                "role.assign",
                resource_type="member",
                resource_id=user.id,
                epoch=epoch,
                after={"role_ids": [role.id]},
                role_id=role.id,
                role_name=role.name,
                invitation_id=invitation.id,
            ),
            at=now,
        )
    return roles


def _join_team(
    uow: UnitOfWork,
    actor: Principal,
    invitation: Invitation,
    user: User,
    now: datetime,
    epoch: int,
) -> Team | None:
    if invitation.team_id is None:
        return None
    team = uow.teams.get(invitation.org_id, invitation.team_id)
    if team is None:
        return None  # deleted since: the membership stands without it
    team_role = invitation.team_role or TeamRole.MEMBER.value
    uow.team_memberships.add(
        TeamMembership(
            invitation.org_id, team.id, user.id, team_role, now, email=user.email, name=user.name
        )
    )
    uow.teams.add_to_member_count(invitation.org_id, team.id, 1)
    uow.audit.append(
        access_event(
            actor,
            invitation.org_id,
            EventType.TEAM_MEMBERSHIP,
            "team.member_add",
            resource_type="team",
            resource_id=team.id,
            epoch=epoch,
            after={"team_role": team_role},
            user_id=user.id,
            invitation_id=invitation.id,
        ),
        at=now,
    )
    return team


# --- events -----------------------------------------------------------------------------------


def _event(
    principal: Principal, invitation: Invitation, action: str, epoch: int | None, **more: object
) -> AuditDraft:
    """An invitation's event: never its token, which only the email carries."""
    details: dict[str, object] = {
        "email": invitation.email,
        "org_role": invitation.org_role.value,
        "role_ids": list(invitation.role_ids),
        "team_id": invitation.team_id,
        "team_role": invitation.team_role,
        "expires_at": invitation.expires_at.isoformat(),
        **more,
    }
    if epoch is not None:
        details["authz_epoch"] = epoch
    return AuditDraft(
        event_type=EventType.INVITATION,
        action=action,
        outcome=Outcome.SUCCESS,
        org_id=invitation.org_id,
        actor_id=principal.user_id,
        actor_type=principal.actor_type,
        resource_type=INVITATION,
        resource_id=invitation.id,
        details=details,
    )


def _refusal(
    action: str,
    org_id: str | None,
    invitation_id: str | None,
    caller: Principal | None,
    reason: str,
) -> AuditDraft:
    refused = reason in {"invitation_not_found", "invitation_for_another_user"}
    return AuditDraft(
        event_type=EventType.INVITATION,
        action=action,
        outcome=Outcome.DENIED if refused else Outcome.FAILURE,
        org_id=org_id,
        actor_id=caller.user_id if caller else None,
        actor_type=ActorType.USER if caller else ActorType.ANONYMOUS,
        resource_type=INVITATION,
        resource_id=invitation_id,
        reason=reason,
    )
