"""Records for the contract suite: valid by default, unique where the store needs it.

Times are whole seconds in UTC, so every store gives them back equal.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tenantry.domain.audit import AuditDraft, EventType, Outcome
from tenantry.domain.ids import hash_secret, new_id, new_secret_token
from tenantry.domain.model import (
    EmailMessage,
    KeyState,
    Membership,
    MembershipStatus,
    OneTimeToken,
    Organisation,
    OrgStatus,
    RefreshToken,
    Session,
    SigningKey,
    TokenPurpose,
    User,
)
from tenantry.domain.roles import OrgRole, Role, RoleAssignment, RoleScope, TeamRole
from tenantry.domain.teams import Team, TeamMembership
from tests.harness import unique_email, unique_slug

AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Outbox reads are global: times long before anything else the shared database holds keep
# `due` to this suite's own entries.
OUTBOX_AT = datetime(2001, 1, 1, 12, 0, tzinfo=UTC)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def make_user(**changes: Any) -> User:
    user = User(
        id=new_id("usr"),
        email=unique_email(),
        name="Ada Lovelace",
        password_hash="hash-0",
        created_at=AT,
    )
    return replace(user, **changes)


def make_org(**changes: Any) -> Organisation:
    org = Organisation(
        id=new_id("org"),
        slug=unique_slug(),
        name="Acme",
        status=OrgStatus.ACTIVE,
        created_at=AT,
        created_by=new_id("usr"),
        settings={"theme": "dark"},
    )
    return replace(org, **changes)


def make_membership(org: Organisation, user: User, **changes: Any) -> Membership:
    membership = Membership(
        org_id=org.id,
        user_id=user.id,
        org_role=OrgRole.MEMBER,
        status=MembershipStatus.ACTIVE,
        joined_at=AT,
        email=user.email,
        name=user.name,
    )
    return replace(membership, **changes)


def make_session(user: User, **changes: Any) -> Session:
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        created_at=AT,
        last_used_at=AT,
        expires_at=AT + timedelta(days=1),
        user_agent="contract-suite",
        ip_address="192.0.2.1",
    )
    return replace(session, **changes)


def make_refresh_token(session: Session, **changes: Any) -> RefreshToken:
    token = RefreshToken(
        id=new_id("rt"),
        session_id=session.id,
        token_hash=hash_secret(new_secret_token()),
        issued_at=AT,
        expires_at=AT + timedelta(days=30),
    )
    return replace(token, **changes)


def make_one_time_token(user: User, **changes: Any) -> OneTimeToken:
    token = OneTimeToken(
        id=new_id("ott"),
        user_id=user.id,
        purpose=TokenPurpose.RESET_PASSWORD,
        token_hash=hash_secret(new_secret_token()),
        created_at=AT,
        expires_at=AT + timedelta(hours=1),
        epoch=3,
    )
    return replace(token, **changes)


def make_key(**changes: Any) -> SigningKey:
    kid = new_id("key")
    key = SigningKey(
        kid=kid,
        alg="EdDSA",
        public_jwk={"kty": "OKP", "crv": "Ed25519", "x": "contract", "kid": kid},
        private_key_encrypted="not-a-real-key",
        state=KeyState.NEXT,
        created_at=AT,
    )
    return replace(key, **changes)


def make_message(**changes: Any) -> EmailMessage:
    message = EmailMessage(
        to=unique_email("recipient"),
        subject="Verify your email",
        text="Follow https://tenantry.test/verify?token=secret",
        html="<p>Follow the link</p>",
        kind="verify_email",
    )
    return replace(message, **changes)


def make_draft(**changes: Any) -> AuditDraft:
    draft = AuditDraft(
        event_type=EventType.USER_MANAGEMENT,
        action="user.update",
        outcome=Outcome.SUCCESS,
        actor_id=new_id("usr"),
        resource_type="user",
        resource_id=new_id("usr"),
        details={"field": "name"},
    )
    return replace(draft, **changes)


def make_role(org: Organisation, **changes: Any) -> Role:
    role_id = new_id("rol")
    role = Role(
        id=role_id,
        org_id=org.id,
        name=f"Role {role_id[-8:]}",  # names are unique in an organisation
        permissions=("team:read", "member:read"),
        scope=RoleScope.ORGANISATION,
        created_at=AT,
        description="Reads teams and members",
    )
    return replace(role, **changes)


def make_assignment(org: Organisation, user_id: str, role: Role, **changes: Any) -> RoleAssignment:
    assignment = RoleAssignment(
        org_id=org.id,
        user_id=user_id,
        role_id=role.id,
        assigned_at=AT,
        assigned_by=new_id("usr"),
    )
    return replace(assignment, **changes)


def make_team(org: Organisation, **changes: Any) -> Team:
    team_id = new_id("team")
    team = Team(
        id=team_id,
        org_id=org.id,
        name=f"Team {team_id[-8:]}",  # names are unique in an organisation
        created_at=AT,
        description="Builds things",
    )
    return replace(team, **changes)


def make_team_member(team: Team, user: User | None = None, **changes: Any) -> TeamMembership:
    """A team membership of `user` (by default a user the store need not hold)."""
    user = user or make_user()
    membership = TeamMembership(
        org_id=team.org_id,
        team_id=team.id,
        user_id=user.id,
        team_role=TeamRole.MEMBER.value,
        joined_at=AT,
        email=user.email,
        name=user.name,
    )
    return replace(membership, **changes)
