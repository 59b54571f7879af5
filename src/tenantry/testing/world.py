"""The probe's world, built through the HTTP API alone: two tenants, and in the attacking one
a principal of every kind.

Each tenant has an owner, a member who holds its custom role and belongs to its team, a
pending invitation, audit events and a live session: the objects whose ids the attacker
names. The attacking tenant adds its callers: ADMIN, MEMBER, a custom role's holder, a team
LEAD, a member of both tenants holding the attacker's token, a user of no organisation, no
token at all, an expired token, and (when the probe's issuer is trusted) an external
issuer's token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tenantry.testing.inbox import INVITATION_LINK, VERIFY_LINK, Inbox, wait_for_link
from tenantry.testing.issuer import ProbeIssuer
from tenantry.testing.wire import Client, ProbeError, expect, send

# Broad enough to act on every kind of object, but no organisation role: the holder is a
# MEMBER whose custom role is what would let it through.
CUSTOM_PERMISSIONS = ["member:*", "role:read", "team:*", "invitation:*", "audit:read"]


class Kind(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    CUSTOM_ROLE = "custom-role"
    TEAM_LEAD = "team-lead"
    BOTH_ORGS = "member-of-both"  # a member of both tenants, with the attacker's token
    NON_MEMBER = "non-member"  # signed in, in no organisation
    ANONYMOUS = "anonymous"
    EXPIRED = "expired-token"
    EXTERNAL = "external-issuer"


# Where a principal's refusals are audited: its organisation's chain, the system chain (a
# token that does not verify, a user with no organisation), or nowhere (no token).
IN_OWN_ORG = {
    Kind.OWNER,
    Kind.ADMIN,
    Kind.MEMBER,
    Kind.CUSTOM_ROLE,
    Kind.TEAM_LEAD,
    Kind.BOTH_ORGS,
}


@dataclass
class Principal:
    kind: Kind
    user_id: str | None = None
    email: str | None = None
    password: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    org_id: str | None = None  # the organisation its token is for
    knows_victim: bool = False  # a member of the attacked tenant: its own views show it

    @property
    def audited_in_own_org(self) -> bool:
        return self.kind in IN_OWN_ORG

    def fill(self) -> dict[str, str]:
        """What the caller's own placeholders in a body stand for; random where it has none."""
        return {
            "my_email": self.email or f"probe-nobody-{secrets.token_hex(5)}@example.com",
            "my_password": self.password or secrets.token_urlsafe(16),
            "my_refresh_token": self.refresh_token or secrets.token_urlsafe(32),
        }


@dataclass
class Tenant:
    """One organisation and the ids the attacker names."""

    owner: Principal
    org_id: str
    name: str
    slug: str
    member: Principal
    role_id: str
    role_name: str
    team_id: str
    team_name: str
    invitation_id: str
    invited_email: str
    event_id: str
    session_id: str

    def ids(self) -> dict[str, str]:
        assert self.member.user_id is not None
        assert self.owner.user_id is not None
        assert self.owner.email is not None
        return {
            "org_id": self.org_id,
            "user_id": self.member.user_id,
            "owner_id": self.owner.user_id,
            "owner_email": self.owner.email,
            "role_id": self.role_id,
            "team_id": self.team_id,
            "invitation_id": self.invitation_id,
            "event_id": self.event_id,
            "session_id": self.session_id,
            "slug": self.slug,
        }

    def secrets(self) -> set[str]:
        """Everything of this tenant no other tenant's caller may read."""
        return set(self.ids().values()) | {
            self.name,
            self.role_name,
            self.team_name,
            self.invited_email,
            self.member.email or "",
        } - {""}


@dataclass
class World:
    attacker: Tenant
    victim: Tenant
    principals: list[Principal]  # every live kind; the expired one is kept apart
    expired: Principal
    not_set_up: dict[Kind, str] = field(default_factory=dict)  # kinds the target cannot give


class WorldBuilder:
    def __init__(
        self,
        client: Client,
        inbox: Inbox,
        *,
        issuer: ProbeIssuer | None = None,
        mail_timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.inbox = inbox
        self.issuer = issuer
        self.mail_timeout = mail_timeout
        self.run = secrets.token_hex(4)

    def build(self) -> World:
        victim = self.tenant("Borealis")
        attacker = self.tenant("Aardvark")
        principals = [attacker.owner, *self.attackers(attacker, victim)]
        expired = self.invitee(attacker, Kind.EXPIRED)
        world = World(attacker, victim, principals, expired)
        if self.issuer is None:
            world.not_set_up[Kind.EXTERNAL] = "no --issuer-port: the probe's issuer is not trusted"
        else:
            principals.append(self.external(attacker))
        return world

    # --- tenants ---------------------------------------------------------------------------

    def tenant(self, label: str) -> Tenant:
        owner = self.account(Kind.OWNER, label)
        name, slug = f"{label} Probe {self.run}", f"{label.lower()}-probe-{self.run}"
        org = expect(
            self.call("POST", "/v1/organisations", owner, {"name": name, "slug": slug}),
            201,
            "create an organisation",
        )
        self.scope(owner, org["id"])
        role_name, team_name = f"{label} Keeper {self.run}", f"{label} Crew {self.run}"
        role = self.made(owner, "roles", {"name": role_name, "permissions": CUSTOM_PERMISSIONS})
        team = self.made(owner, "teams", {"name": team_name})
        member = self.invitee_of(owner, Kind.MEMBER, {"role_ids": [role], "team_id": team})
        invited_email = self.email("invited")
        invitation = self.made(owner, "invitations", {"email": invited_email})
        return Tenant(
            owner,
            org["id"],
            name,
            slug,
            member,
            role,
            role_name,
            team,
            team_name,
            invitation,
            invited_email,
            self.newest_event(owner),
            self.newest_session(owner),
        )

    def attackers(self, attacker: Tenant, victim: Tenant) -> list[Principal]:
        admin = self.invitee(attacker, Kind.ADMIN, org_role="ADMIN")
        member = self.invitee(attacker, Kind.MEMBER)
        custom = self.invitee(attacker, Kind.CUSTOM_ROLE, role_ids=[attacker.role_id])
        lead = self.invitee(attacker, Kind.TEAM_LEAD, team_id=attacker.team_id, team_role="LEAD")
        both = self.invitee(attacker, Kind.BOTH_ORGS)
        self.join_too(both, victim)
        loner = self.account(Kind.NON_MEMBER, "loner")
        return [admin, member, custom, lead, both, loner, Principal(Kind.ANONYMOUS)]

    def external(self, attacker: Tenant) -> Principal:
        """The attacker's MEMBER as an identity provider's token names them."""
        assert self.issuer is not None
        member = attacker.member
        assert member.email is not None
        token = self.issuer.token("probe-subject-" + self.run, member.email, attacker.org_id)
        external = Principal(
            Kind.EXTERNAL, member.user_id, access_token=token, org_id=attacker.org_id
        )
        # Its first use links the subject to the member (an event of its own): done here, so
        # that every call of the walk is one of many alike.
        asked = {"organisation_id": attacker.org_id, "permission": "organisation:read"}
        decision = expect(self.call("POST", "/v1/authorize", external, asked), 200, "authorize")
        if not decision["allowed"]:
            raise ProbeError(f"the external issuer's token was not linked: {decision}")
        return external

    # --- accounts --------------------------------------------------------------------------

    def account(self, kind: Kind, label: str) -> Principal:
        """A verified account, signed in with a token of no organisation."""
        email, password = self.email(label), secrets.token_urlsafe(18)
        body = {"email": email, "password": password, "name": f"Probe {label}"}
        signed_up = send(self.client, "POST", "/v1/auth/signup", body=body)
        # 201 where the target reveals taken addresses (TENANTRY_SIGNUP_REVEALS_EXISTING)
        expect(signed_up, (202, 201), "sign up")
        token = wait_for_link(self.inbox, email, VERIFY_LINK, timeout=self.mail_timeout)
        verify = send(self.client, "POST", "/v1/auth/verify-email", body={"token": token})
        expect(verify, 200, "verify an email address")
        login = send(
            self.client, "POST", "/v1/auth/login", body={"email": email, "password": password}
        )
        principal = Principal(kind, email=email, password=password)
        keep(principal, expect(login, 200, "log in"))
        principal.user_id = self.user_id_of(principal)
        return principal

    def invitee(self, tenant: Tenant, kind: Kind, **binding: Any) -> Principal:
        return self.invitee_of(tenant.owner, kind, binding)

    def invitee_of(self, owner: Principal, kind: Kind, binding: dict[str, Any]) -> Principal:
        """A new account made by accepting the owner's invitation (its address verified so)."""
        email, password = self.email(kind.value), secrets.token_urlsafe(18)
        self.made(owner, "invitations", {"email": email, **binding})
        link = wait_for_link(self.inbox, email, INVITATION_LINK, timeout=self.mail_timeout)
        body = {"name": f"Probe {kind.value}", "password": password}
        accepted = expect(
            send(self.client, "POST", f"/v1/invitations/{link}/accept", body=body),
            200,
            "accept an invitation",
        )
        principal = Principal(kind, email=email, password=password, org_id=owner.org_id)
        keep(principal, accepted["tokens"])
        principal.user_id = self.user_id_of(principal)
        return principal

    def join_too(self, principal: Principal, victim: Tenant) -> None:
        """`principal` accepts an invitation into the victim too, keeping its own token."""
        assert principal.email is not None
        mailed = len(self.inbox.texts_to(principal.email))  # its first invitation's
        self.made(victim.owner, "invitations", {"email": principal.email, "org_role": "ADMIN"})
        link = wait_for_link(
            self.inbox, principal.email, INVITATION_LINK, after=mailed, timeout=self.mail_timeout
        )
        accepted = send(
            self.client, "POST", f"/v1/invitations/{link}/accept", token=principal.access_token
        )
        expect(accepted, 200, "accept a second organisation's invitation")
        principal.knows_victim = True

    # --- helpers ---------------------------------------------------------------------------

    def call(self, method: str, path: str, principal: Principal, body: Any = None) -> Any:
        return send(self.client, method, path, token=principal.access_token, body=body)

    def made(self, owner: Principal, collection: str, body: dict[str, Any]) -> str:
        path = f"/v1/organisations/{owner.org_id}/{collection}"
        made_id: str = expect(self.call("POST", path, owner, body), 201, f"create in {collection}")[
            "id"
        ]
        return made_id

    def scope(self, principal: Principal, org_id: str) -> None:
        renew(self.client, principal, org_id)
        principal.org_id = org_id

    def user_id_of(self, principal: Principal) -> str:
        user_id: str = expect(self.call("GET", "/v1/me", principal), 200, "read /v1/me")["id"]
        return user_id

    def newest_event(self, owner: Principal) -> str:
        page = expect(
            self.call("GET", f"/v1/organisations/{owner.org_id}/audit-events?limit=1", owner),
            200,
            "read the audit log",
        )
        event_id: str = page["items"][0]["event_id"]
        return event_id

    def newest_session(self, owner: Principal) -> str:
        page = expect(self.call("GET", "/v1/me/sessions", owner), 200, "list sessions")
        session_id: str = page["items"][0]["id"]
        return session_id

    def email(self, label: str) -> str:
        return f"probe-{label.lower()}-{self.run}-{secrets.token_hex(3)}@example.com"


def renew(client: Client, principal: Principal, org_id: str | None = None) -> None:
    """New tokens for `principal` from its refresh token: for `org_id`, or for the same
    organisation as before."""
    body = {"refresh_token": principal.refresh_token}
    if org_id is not None:
        body["organisation_id"] = org_id
    keep(principal, expect(send(client, "POST", "/v1/auth/refresh", body=body), 200, "refresh"))


def keep(principal: Principal, tokens: dict[str, Any]) -> None:
    principal.access_token = tokens["access_token"]
    principal.refresh_token = tokens["refresh_token"]
