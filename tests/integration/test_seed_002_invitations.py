"""The invitation and email cases of seeds/002 (issue 10), one test each, named after its case.

The seed was written for another product (events, placeholder users, a DECLINED status), so
each docstring names the case and says how tenantry answers it. Every test drives the HTTP
API on SQLite, PostgreSQL and DynamoDB Local, reads the emails a real SMTP server received
(parsed, their links followed) and checks the store and the audit trail. Where
test_invitations.py already covers a case, the test here checks the angle the seed asks about
instead of repeating it.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa

from tenantry.domain.audit import Outcome
from tenantry.domain.invitations import Invitation, InvitationStatus
from tenantry.domain.model import MembershipStatus
from tenantry.domain.roles import OrgRole
from tenantry.store.dynamo import codec
from tenantry.store.sql.accounts import users
from tenantry.store.sql.invitations import invitations
from tenantry.store.sql.outbox import outbox
from tests import access_builders as access
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    SENDER,
    Account,
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    bearer,
    build_tenantry,
    dynamo_rows,
    privileged,
    test_settings,
    unique_slug,
)
from tests.harness import unique_email as new_email
from tests.integration.account_checks import assert_problem
from tests.integration.test_email_addresses import full_width
from tests.integration.test_invitations import (
    accept,
    as_new_user,
    bulk,
    invitation_events,
    invite,
    invited,
    link_token,
    statuses,
)
from tests.org_builders import register_org, stored_membership
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE]

SECRET = r"[A-Za-z0-9_-]{43,}"  # 256 random bits, base64url without padding


@pytest.fixture(autouse=True)
def _queued_mail_is_delivered(mailbox: Mailbox) -> Iterator[None]:
    """Mail a test queued and never read is sent when it ends: on the shared PostgreSQL, a
    later test would otherwise receive it."""
    yield
    mailbox.deliver()


@pytest.fixture
def two_resends_api(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> Iterator[Api]:
    """A tenantry whose operator allows an invitation to be sent again twice."""
    settings = test_settings(store_target, tmp_path, invitation_resends=2)
    app = build_tenantry(settings, clock, smtp_server)
    yield Api(app, Mailbox(app, smtp_server))
    app.close()


# --- reading what was delivered ---------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """One email as the SMTP server received it: its headers and its two parts."""

    message: EmailMessage
    text: str
    html: str

    def link(self, public_url: str) -> str:
        """The one link to tenantry's pages in the text part; the HTML part links only to it."""
        links: set[str] = set(re.findall(rf"{re.escape(public_url)}/[^\s<>\"]+", self.text))
        [link] = links
        assert self.hrefs() == {link}, self.hrefs()
        return link

    def hrefs(self) -> set[str]:
        return {html.unescape(href) for href in re.findall(r'href="([^"]*)"', self.html)}


def delivered(message: EmailMessage) -> Delivered:
    text, page = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert page is not None
    return Delivered(message, text.get_content(), page.get_content())


def last_mail(api: Api, address: str) -> Delivered:
    return delivered(api.mailbox.messages_to(address)[-1])


def deliver_all(mailbox: Mailbox) -> None:
    """Send every queued email: the mailbox sends one batch of the outbox a call."""
    delivered_so_far = -1
    while (arrived := len(mailbox.deliver())) != delivered_so_far:
        delivered_so_far = arrived


def public_url(api: Api) -> str:
    return api.tenantry.settings.resolved_public_url()


def invitation_link_parts(api: Api, mail: Delivered) -> tuple[str, str]:
    """The organisation id and the secret of the invitation link in `mail`."""
    link = mail.link(public_url(api))
    shape = rf"{re.escape(public_url(api))}/invitations/(org_[0-9a-z]+)\.({SECRET})"
    found = re.fullmatch(shape, unquote(link))
    assert found is not None, "the link is not {public_url}/invitations/{org_id}.{secret}"
    return found.group(1), found.group(2)


def query_token(link: str) -> str:
    [token] = parse_qs(urlsplit(link).query)["token"]
    return token


# --- reading what the store holds -------------------------------------------------------------


def invitation_rows(target: StoreTarget, *org_ids: str) -> list[Any]:
    if target.name == "dynamo":
        return [row for row in dynamo_rows(target.url, "invitation") if row.org_id in org_ids]
    with privileged(target) as db:
        query = sa.select(invitations).where(invitations.c.org_id.in_(org_ids))
        return list(db.execute(query))


def user_rows(target: StoreTarget, email: str) -> list[Any]:
    if target.name == "dynamo":
        found = [row for row in dynamo_rows(target.url, "user") if row.email == email]
        for row in found:  # times are kept as text there
            row.created_at = codec.moment(row.created_at)
            row.email_verified_at = codec.moment(row.email_verified_at)
        return found
    with privileged(target) as db:
        return list(db.execute(sa.select(users).where(users.c.email == email)))


def outbox_rows_to(target: StoreTarget, recipients: list[str]) -> list[Any]:
    if target.name == "dynamo":
        entries = dynamo_rows(target.url, "outbox_entry")
        return [row for row in entries if row.recipient in recipients]
    with privileged(target) as db:
        return list(db.execute(sa.select(outbox).where(outbox.c.recipient.in_(recipients))))


def values_of(row: Any) -> list[Any]:
    """The stored values of an SQL row or a DynamoDB item."""
    return list(vars(row).values()) if isinstance(row, SimpleNamespace) else list(row)


def stored_invitation(api: Api, org_id: str, invitation_id: str) -> Invitation:
    with api.tenantry.store.unit_of_work(org_id=org_id) as uow:
        found = uow.invitations.get(org_id, invitation_id)
    assert found is not None
    return found


# --- acting ------------------------------------------------------------------------------------


def preview(api: Api, token: str) -> Any:
    return api.client.get(f"/v1/invitations/{token}")


def resend(api: Api, owner: Account, invitation_id: str) -> Any:
    path = access.org_path(owner, "invitations", invitation_id, "resend")
    return api.client.post(path, headers=owner.auth)


def revoke(api: Api, account: Account, invitation_id: str) -> Any:
    path = access.org_path(account, "invitations", invitation_id)
    return api.client.delete(path, headers=account.auth)


def listed_ids(api: Api, owner: Account, status: str) -> list[str]:
    response = api.client.get(
        access.org_path(owner, "invitations"), params={"status": status}, headers=owner.auth
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def accepted_account(accepted: Any, email: str) -> Account:
    """The invitee signed in by their acceptance, with its org-scoped tokens."""
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    tokens = body["tokens"]
    return Account(
        email,
        PASSWORD,
        body["invitation"]["accepted_by"],
        tokens["access_token"],
        tokens["refresh_token"],
        org_id=tokens["organisation_id"],
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ttl(api: Api) -> timedelta:
    return timedelta(seconds=api.tenantry.settings.invitation_ttl_seconds)


# --- Invitation Integration --------------------------------------------------------------------


def test_org_invitation_flow(api: Api, store_target: StoreTarget) -> None:
    """Seed "create, send email, accept": the mailed link makes a member who can sign in."""
    owner, org = api.owner_with_org()
    email = new_email("flow")

    made = invited(api, owner, email)
    mail = last_mail(api, email)
    org_id, secret = invitation_link_parts(api, mail)
    token = f"{org_id}.{secret}"
    shown = preview(api, token)
    accepted = as_new_user(api, token, name="Flo Flow")
    later = api.login(email, org_id=org["id"])

    assert (mail.message["From"], mail.message["To"]) == (SENDER, email)
    assert mail.message["Subject"] == "Test User invited you to join Acme"
    assert org_id == org["id"]
    assert (shown.status_code, shown.json()["status"]) == (200, "PENDING")
    invitee = accepted_account(accepted, email)
    assert later.status_code == 200, later.text
    mine = api.client.get("/v1/organisations", headers=bearer(later.json()["access_token"]))
    assert [(o["id"], o["org_role"]) for o in mine.json()["items"]] == [(org["id"], "MEMBER")]
    listed = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth).json()
    assert [(i["id"], i["status"], i["accepted_by"]) for i in listed["items"]] == [
        (made["id"], "ACCEPTED", invitee.user_id)
    ]
    trail = [(e.action, e.actor_id, e.outcome) for e in invitation_events(store_target, org_id)]
    assert trail == [
        ("invitation.create", owner.user_id, Outcome.SUCCESS),
        ("invitation.accept", invitee.user_id, Outcome.SUCCESS),
    ]


def test_event_invitation_flow(api: Api, store_target: StoreTarget) -> None:
    """Seed "invite with role": no events here; a team LEAD invitee manages only that team."""
    # Tenantry's scope below an organisation is a team: the nearest thing to an event.
    owner, org = api.owner_with_org()
    launch = access.made_team(api, owner, "Launch event")
    payments = access.made_team(api, owner, "Payments")
    newcomer = api.member_of(org["id"])
    email = new_email("lead")
    made = invited(api, owner, email, team_id=launch, team_role="LEAD")

    lead = accepted_account(as_new_user(api, link_token(api, email)), email)
    added = access.add_to_team(api, lead, launch, newcomer.user_id)
    elsewhere = access.add_to_team(api, lead, payments, newcomer.user_id)

    assert (made["team_id"], made["team_role"]) == (launch, "LEAD")
    assert added.status_code == 201, added.text
    assert_problem(elsewhere, 403, "permission_denied")
    members = access.stored_team_members(api.tenantry, org["id"], launch)
    assert sorted((m.user_id, m.team_role) for m in members) == sorted(
        [(lead.user_id, "LEAD"), (newcomer.user_id, "MEMBER")]
    )
    team = access.stored_team(api.tenantry, org["id"], launch)
    assert team is not None
    assert team.member_count == 2
    assert access.stored_team_members(api.tenantry, org["id"], payments) == []
    joins = audit_events(store_target, org_id=org["id"], action="team.member_add")
    assert sorted(
        (e.actor_id, e.resource_id, e.details.get("invitation_id", "")) for e in joins
    ) == sorted([(lead.user_id, launch, made["id"]), (lead.user_id, launch, "")])


def test_placeholder_user_creation(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "create user from email": no user until acceptance, then one, verified."""
    owner, _ = api.owner_with_org()
    email = new_email("placeholder")
    invited(api, owner, email)
    token = link_token(api, email)

    before = user_rows(store_target, email)
    login_before = api.login(email)
    clock.advance(minutes=5)
    invitee = accepted_account(as_new_user(api, token, name="Pat Placeholder"), email)

    assert before == []
    assert_problem(login_before, 401, "invalid_credentials")
    [row] = user_rows(store_target, email)
    assert (row.id, row.name) == (invitee.user_id, "Pat Placeholder")
    assert row.created_at == row.email_verified_at == clock.now()
    me = api.client.get("/v1/me", headers=invitee.auth).json()
    assert (me["email"], me["email_verified"]) == (email, True)
    # The invitation proved the address: no verification email follows it.
    subjects = [m["Subject"] for m in api.mailbox.messages_to(email)]
    assert subjects == ["Test User invited you to join Acme"]
    assert api.login(email).status_code == 200


def test_invitation_expiry(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "time-limited": PENDING until the TTL ends, then EXPIRED everywhere, 410."""
    owner, org = api.owner_with_org()
    email = new_email("expiry")
    made = invited(api, owner, email)
    mail = last_mail(api, email)
    token = link_token(api, email)

    clock.advance(ttl(api) - timedelta(seconds=1))
    just_before = preview(api, token).json()["status"]
    clock.advance(seconds=1)
    at_the_end = preview(api, token).json()["status"]
    refused = as_new_user(api, token)
    owner = api.switch_org(owner, org["id"])

    expires_at = at(made["expires_at"])
    assert expires_at - at(made["created_at"]) == ttl(api)
    assert f"{expires_at:%d %B %Y}" in mail.text
    assert f"{expires_at:%d %B %Y}" in mail.html
    assert (just_before, at_the_end) == ("PENDING", "EXPIRED")
    assert_problem(refused, 410, "invitation_expired")
    assert listed_ids(api, owner, "PENDING") == []
    assert listed_ids(api, owner, "EXPIRED") == [made["id"]]
    assert user_rows(store_target, email) == []
    refusals = [e for e in invitation_events(store_target, org["id"]) if e.reason]
    assert [(e.action, e.outcome, e.resource_id, e.reason) for e in refusals] == [
        ("invitation.accept", Outcome.FAILURE, made["id"], "invitation_expired")
    ]


def test_invitation_cancellation(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "revoke pending invites": needs invitation:revoke; link refused, address freed."""
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    email = new_email("cancel")
    made = invited(api, owner, email)
    token = link_token(api, email)

    by_a_member = revoke(api, member, made["id"])
    revoked = revoke(api, owner, made["id"])
    shown = preview(api, token)
    refused = as_new_user(api, token)
    anew = invite(api, owner, email)

    assert_problem(by_a_member, 403, "permission_denied")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "REVOKED"
    assert shown.json()["status"] == "REVOKED"
    assert_problem(refused, 409, "invitation_revoked")
    assert anew.status_code == 201, anew.text
    stored = stored_invitation(api, org["id"], made["id"])
    assert (stored.status, stored.ended_at) == (InvitationStatus.REVOKED, clock.now())
    assert len(api.mailbox.messages_to(email)) == 2  # the first link and the new one
    [revoke_event] = audit_events(store_target, org_id=org["id"], action="invitation.revoke")
    assert (revoke_event.actor_id, revoke_event.resource_id) == (owner.user_id, made["id"])
    denied = audit_events(
        store_target, org_id=org["id"], actor_id=member.user_id, outcome=Outcome.DENIED
    )
    assert [(e.resource_id, e.reason) for e in denied] == [(made["id"], "missing_permission")]


def test_bulk_invitation(api: Api, store_target: StoreTarget) -> None:
    """Seed "send multiple at once": one epoch bump; each address mailed a link it accepts."""
    owner, org = api.owner_with_org()
    emails = [new_email(f"bulk{i}") for i in range(3)]
    epoch = access.stored_epoch(api.tenantry, org["id"])

    answer = bulk(api, owner, [{"email": email} for email in emails])
    epoch_after_bulk = access.stored_epoch(api.tenantry, org["id"])
    tokens = [link_token(api, email) for email in emails]
    joined = [
        accepted_account(as_new_user(api, token), e)
        for token, e in zip(tokens, emails, strict=True)
    ]

    assert statuses(answer) == [("created", None)] * 3
    assert answer.json()["written"] is True
    assert access.epoch_of(answer) == epoch_after_bulk == epoch + 1
    assert len(set(tokens)) == 3
    assert [len(api.mailbox.messages_to(email)) for email in emails] == [1, 1, 1]
    members = api.client.get(access.org_path(owner, "members"), headers=owner.auth).json()
    assert {(m["user_id"], m["email"], m["org_role"]) for m in members["items"]} >= {
        (account.user_id, account.email, "MEMBER") for account in joined
    }
    made = {row["invitation"]["id"] for row in answer.json()["rows"]}
    created = audit_events(store_target, org_id=org["id"], action="invitation.create")
    assert {e.resource_id for e in created} == made
    assert {e.details["authz_epoch"] for e in created} == {epoch + 1}


def test_invitation_resend(
    two_resends_api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    """Seed "resend with new token": old link dead, expiry restarts, resends are capped."""
    api = two_resends_api
    owner, org = api.owner_with_org()
    email = new_email("resend")
    made = invited(api, owner, email)
    links = [link_token(api, email)]

    clock.advance(days=3)
    owner = api.switch_org(owner, org["id"])
    first = resend(api, owner, made["id"])
    links.append(link_token(api, email))
    reminder = last_mail(api, email)
    second = resend(api, owner, made["id"])
    links.append(link_token(api, email))
    over = resend(api, owner, made["id"])

    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert (first.json()["resend_count"], second.json()["resend_count"]) == (1, 2)
    assert at(second.json()["expires_at"]) == clock.now() + ttl(api)
    assert len(set(links)) == 3
    assert reminder.message["Subject"] == "Reminder: Test User invited you to join Acme"
    assert "no longer works" in reminder.text
    assert "no longer works" in reminder.html
    assert_problem(over, 409, "resend_limit_reached")
    assert len(api.mailbox.messages_to(email)) == 3
    for dead in links[:2]:
        assert_problem(as_new_user(api, dead), 404, "invitation_not_found")
    assert as_new_user(api, links[2]).status_code == 200
    resends = audit_events(store_target, org_id=org["id"], action="invitation.resend")
    assert [(e.outcome, e.details.get("resend_count"), e.reason) for e in resends] == [
        (Outcome.SUCCESS, 1, None),
        (Outcome.SUCCESS, 2, None),
        (Outcome.FAILURE, None, "resend_limit_reached"),
    ]


def test_invitation_role_assignment(api: Api, store_target: StoreTarget) -> None:
    """Seed "set role on accept": the bound ADMIN and custom roles hold from acceptance."""
    owner, org = api.owner_with_org()
    editor = access.made_role(api, owner, "Site editor", ["site:publish"])
    email = new_email("admin")
    made = invited(api, owner, email, org_role="ADMIN", role_ids=[editor])

    accepted = as_new_user(api, link_token(api, email))
    epoch_after_accept = access.stored_epoch(api.tenantry, org["id"])
    admin = accepted_account(accepted, email)
    their_invitation = invite(api, admin, new_email("next"))
    above_them = invite(api, admin, new_email("owner"), org_role="OWNER")

    membership = stored_membership(api.tenantry, org["id"], admin.user_id)
    assert membership is not None
    assert (membership.org_role, membership.status) == (OrgRole.ADMIN, MembershipStatus.ACTIVE)
    assigned = access.stored_assignments(api.tenantry, org["id"], admin.user_id)
    assert [(a.role_id, a.assigned_by) for a in assigned] == [(editor, owner.user_id)]
    assert "site:publish" in access.held(api, owner, admin.user_id)
    assert access.epoch_of(accepted) == epoch_after_accept
    assert their_invitation.status_code == 201, their_invitation.text
    assert_problem(above_them, 403, "owner_required")
    [assign] = audit_events(store_target, org_id=org["id"], action="role.assign")
    assert (assign.actor_id, assign.resource_id) == (admin.user_id, admin.user_id)
    assert (assign.details["role_id"], assign.details["invitation_id"]) == (editor, made["id"])


def test_duplicate_invitation_handling(api: Api, store_target: StoreTarget) -> None:
    """Seed "prevent duplicates": any spelling of a pending address is 409, nothing written."""
    owner, org = api.owner_with_org()
    email = new_email("dup")
    made = invited(api, owner, email)
    epoch = access.stored_epoch(api.tenantry, org["id"])

    refused = [invite(api, owner, other) for other in (email.upper(), full_width(email))]
    in_bulk = bulk(api, owner, [{"email": f"  {email.title()}  "}])
    stored_after = invitation_rows(store_target, org["id"])
    epoch_after = access.stored_epoch(api.tenantry, org["id"])
    assert revoke(api, owner, made["id"]).status_code == 200
    again = invite(api, owner, email)

    for response in refused:
        assert assert_problem(response, 409, "invitation_pending")["invitation_id"] == made["id"]
    assert statuses(in_bulk) == [("duplicate", "invitation_pending")]
    assert [(row.id, row.email) for row in stored_after] == [(made["id"], email)]
    assert epoch_after == epoch
    assert again.status_code == 201, again.text
    assert len(api.mailbox.messages_to(email)) == 2  # the first invitation and the last
    creates = audit_events(store_target, org_id=org["id"], action="invitation.create")
    assert [(e.outcome, e.reason) for e in creates if e.reason] == [
        (Outcome.FAILURE, "invitation_pending")
    ] * 2


def test_duplicate_invitation_handling_in_a_bulk_of_duplicates_only(
    api: Api, store_target: StoreTarget
) -> None:
    """Seed "prevent duplicates", bulk: written is false."""
    owner, org = api.owner_with_org()
    email = new_email("dup")
    made = invited(api, owner, email)

    answer = bulk(api, owner, [{"email": email.upper()}])

    assert statuses(answer) == [("duplicate", "invitation_pending")]
    assert [row.id for row in invitation_rows(store_target, org["id"])] == [made["id"]]
    assert answer.json()["written"] is False


# --- EventInvitation model ---------------------------------------------------------------------


def test_token_generation(api: Api) -> None:
    """Seed "unique tokens": {org_id}.{secret}, found in its org only; resend rehashes."""
    owner, org = api.owner_with_org()
    _, other_org = api.owner_with_org()
    email = new_email("token")
    made = invited(api, owner, email)
    org_id, secret = invitation_link_parts(api, last_mail(api, email))
    token = f"{org_id}.{secret}"
    hash_before = stored_invitation(api, org["id"], made["id"]).token_hash
    changed_secret = f"{org_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"

    shown = preview(api, token)
    elsewhere = preview(api, f"{other_org['id']}.{secret}")
    changed = preview(api, changed_secret)
    assert resend(api, owner, made["id"]).status_code == 200
    new_org_id, new_secret = invitation_link_parts(api, last_mail(api, email))

    assert org_id == new_org_id == org["id"]
    assert (shown.status_code, shown.json()["organisation_name"]) == (200, "Acme")
    assert_problem(elsewhere, 404, "invitation_not_found")
    assert_problem(changed, 404, "invitation_not_found")
    assert new_secret != secret
    assert hash_before == hashlib.sha256(token.encode()).hexdigest()
    new_token = f"{org_id}.{new_secret}"
    stored = stored_invitation(api, org["id"], made["id"])
    assert stored.token_hash == hashlib.sha256(new_token.encode()).hexdigest()
    assert preview(api, new_token).status_code == 200


def test_expiry_validation(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "time limits": an expired invitation does not block; re-inviting ends it EXPIRED."""
    owner, org = api.owner_with_org()
    email = new_email("again")
    first = invited(api, owner, email)
    old_token = link_token(api, email)

    clock.advance(ttl(api))
    owner = api.switch_org(owner, org["id"])
    stored_while_expired = stored_invitation(api, org["id"], first["id"])
    second = invited(api, owner, email)
    new_token = link_token(api, email)
    stale = as_new_user(api, old_token)
    fresh = as_new_user(api, new_token)

    # Past its expiry and not yet replaced, the row still says PENDING: EXPIRED is read off it.
    assert stored_while_expired.status is InvitationStatus.PENDING
    replaced = stored_invitation(api, org["id"], first["id"])
    assert (replaced.status, replaced.ended_at) == (InvitationStatus.EXPIRED, clock.now())
    assert second["id"] != first["id"]
    assert at(second["expires_at"]) == clock.now() + ttl(api)
    assert_problem(stale, 410, "invitation_expired")
    assert fresh.status_code == 200, fresh.text
    listed = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth).json()
    assert [(i["id"], i["status"]) for i in listed["items"]] == [
        (first["id"], "EXPIRED"),
        (second["id"], "ACCEPTED"),
    ]
    creates = audit_events(store_target, org_id=org["id"], action="invitation.create")
    assert [(e.resource_id, e.outcome) for e in creates] == [
        (first["id"], Outcome.SUCCESS),
        (second["id"], Outcome.SUCCESS),
    ]


def test_expiry_validation_lists_a_replaced_invitation_as_expired(
    api: Api, clock: TestClock
) -> None:
    """Seed "time limits": the EXPIRED filter lists it."""
    owner, org = api.owner_with_org()
    email = new_email("again")
    first = invited(api, owner, email)
    clock.advance(ttl(api))
    owner = api.switch_org(owner, org["id"])
    invited(api, owner, email)

    assert listed_ids(api, owner, "EXPIRED") == [first["id"]]


def test_status_tracking(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "PENDING/ACCEPTED/DECLINED": tracks PENDING, ACCEPTED, REVOKED; EXPIRED is derived."""
    # An invitee declines by ignoring the link; only the inviter ends one early (REVOKED).
    owner, org = api.owner_with_org()
    emails = {status: new_email(status.lower()) for status in ("ACCEPTED", "REVOKED", "EXPIRED")}
    made = {status: invited(api, owner, email)["id"] for status, email in emails.items()}
    tokens = {status: link_token(api, email) for status, email in emails.items()}
    assert as_new_user(api, tokens["ACCEPTED"]).status_code == 200
    assert revoke(api, owner, made["REVOKED"]).status_code == 200

    clock.advance(ttl(api))
    owner = api.switch_org(owner, org["id"])
    made["PENDING"] = invited(api, owner, new_email("pending"))["id"]
    declined = api.client.get(
        access.org_path(owner, "invitations"), params={"status": "DECLINED"}, headers=owner.auth
    )

    for status, invitation_id in made.items():
        assert listed_ids(api, owner, status) == [invitation_id], status
    assert {status: preview(api, token).json()["status"] for status, token in tokens.items()} == {
        "ACCEPTED": "ACCEPTED",
        "REVOKED": "REVOKED",
        "EXPIRED": "EXPIRED",
    }
    stored = {s: stored_invitation(api, org["id"], i) for s, i in made.items()}
    assert {s: i.status.value for s, i in stored.items()} == {
        "ACCEPTED": "ACCEPTED",
        "REVOKED": "REVOKED",
        "EXPIRED": "PENDING",
        "PENDING": "PENDING",
    }
    assert [s for s, i in stored.items() if i.ended_at is not None] == ["ACCEPTED", "REVOKED"]
    body = assert_problem(declined, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["query.status"], body
    assert [e.reason for e in invitation_events(store_target, org["id"]) if e.reason] == []


def test_status_tracking_an_ended_invitation_stays_ended(
    api: Api, store_target: StoreTarget
) -> None:
    """Seed "status tracking": no resend or revoke once ended."""
    owner, org = api.owner_with_org()
    emails = {status: new_email(status.lower()) for status in ("ACCEPTED", "REVOKED")}
    made = {status: invited(api, owner, email)["id"] for status, email in emails.items()}
    assert as_new_user(api, link_token(api, emails["ACCEPTED"])).status_code == 200
    assert revoke(api, owner, made["REVOKED"]).status_code == 200

    answers = [call(api, owner, made[status]) for status in made for call in (resend, revoke)]

    for answer in answers:
        assert_problem(answer, 409, "invitation_not_pending")
    said = [answer.json()["invitation_status"] for answer in answers]
    assert said == ["ACCEPTED", "ACCEPTED", "REVOKED", "REVOKED"]
    stored = {s: stored_invitation(api, org["id"], i).status.value for s, i in made.items()}
    assert stored == {"ACCEPTED": "ACCEPTED", "REVOKED": "REVOKED"}
    assert [len(api.mailbox.messages_to(email)) for email in emails.values()] == [1, 1]
    refusals = [
        (e.action, e.resource_id, e.reason)
        for e in audit_events(store_target, org_id=org["id"], outcome=Outcome.FAILURE)
    ]
    assert sorted(refusals) == sorted(
        (action, made[status], "invitation_not_pending")
        for status in made
        for action in ("invitation.resend", "invitation.revoke")
    )


def test_role_assignment(api: Api, store_target: StoreTarget) -> None:
    """Seed "set on accept": roles are granted as they are at acceptance; deleted ones skipped."""
    owner, org = api.owner_with_org()
    publisher = access.made_role(api, owner, "Publisher", ["site:publish"])
    billing = access.made_role(api, owner, "Billing", ["billing:read"])
    email = new_email("roles")
    made = invited(api, owner, email, role_ids=[publisher, billing])
    [row] = invitation_rows(store_target, org["id"])

    changed = access.patch_role(api, owner, publisher, {"permissions": ["site:preview"]})
    deleted = access.delete_role(api, owner, billing)
    invitee = accepted_account(as_new_user(api, link_token(api, email)), email)

    assert (row.org_role, list(row.role_ids)) == ("MEMBER", [publisher, billing])
    assert (changed.status_code, deleted.status_code) == (200, 204)
    assigned = access.stored_assignments(api.tenantry, org["id"], invitee.user_id)
    assert [a.role_id for a in assigned] == [publisher]
    held = access.held(api, owner, invitee.user_id)
    assert "site:preview" in held
    assert not {"site:publish", "billing:read"} & held
    [accepted] = audit_events(store_target, org_id=org["id"], action="invitation.accept")
    assert (accepted.resource_id, accepted.details["roles"]) == (made["id"], [publisher])
    assigns = audit_events(store_target, org_id=org["id"], action="role.assign")
    assert [e.details["role_id"] for e in assigns if e.actor_id == invitee.user_id] == [publisher]


# --- OrganizationInvitation model --------------------------------------------------------------


def test_email_validation(api: Api, store_target: StoreTarget) -> None:
    """Seed "valid email required": 422 invalid_email, nothing written; case normalised."""
    owner, org = api.owner_with_org()
    epoch = access.stored_epoch(api.tenantry, org["id"])
    sent = len(api.mailbox.deliver())
    bad = ["not an address", "two@@example.com", "spaced out@example.com", "@example.com"]

    refused = [invite(api, owner, address) for address in bad]
    in_bulk = bulk(api, owner, [{"email": address} for address in bad])
    listed_after_bad = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth)
    sent_after_bad = len(api.mailbox.deliver())
    epoch_after_bad = access.stored_epoch(api.tenantry, org["id"])
    email = new_email("ivy")
    mixed = email.replace("ivy", "IvY", 1).replace("example.com", "Example.COM")
    made = invited(api, owner, mixed)
    invitee = signed_up_and_verified(api, mixed, email)
    accepted = accept(api, link_token(api, email), account=invitee)

    for response in refused:
        assert_problem(response, 422, "invalid_email")
    assert statuses(in_bulk) == [("invalid", "invalid_email")] * len(bad)
    assert listed_after_bad.json()["items"] == []
    assert (sent_after_bad, epoch_after_bad) == (sent, epoch)
    creates = audit_events(store_target, org_id=org["id"], action="invitation.create")
    assert [(e.outcome, e.reason) for e in creates if e.reason] == [
        (Outcome.FAILURE, "invalid_email")
    ] * len(bad)
    assert made["email"] == email
    assert api.mailbox.messages_to(mixed) == []  # every email went to the normal form
    assert "Test User invited you to join Acme" in [
        m["Subject"] for m in api.mailbox.messages_to(email)
    ]
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["invitation"]["accepted_by"] == invitee.user_id


def signed_up_and_verified(api: Api, written: str, normalised: str) -> Account:
    """An account signed up as `written`, whose links go to its normal form `normalised`."""
    assert api.signup(written).status_code == 202
    token = api.mailbox.last_link_token(normalised, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    tokens = api.login(written).json()
    me = api.client.get("/v1/me", headers=bearer(tokens["access_token"])).json()
    assert me["email"] == normalised
    return Account(normalised, PASSWORD, me["id"], tokens["access_token"], tokens["refresh_token"])


def test_token_uniqueness(api: Api, store_target: StoreTarget) -> None:
    """Seed "no duplicates": distinct 256-bit secrets are mailed; only their hashes are stored."""
    owner, org = api.owner_with_org()
    other, other_org = api.owner_with_org()
    many = [new_email(f"many{i}") for i in range(20)]
    both = new_email("both")

    for half in (many[:10], many[10:]):  # a bulk request holds 15 rows on DynamoDB
        assert bulk(api, owner, [{"email": email} for email in half]).json()["written"] is True
    invited(api, owner, both)
    invited(api, other, both)
    deliver_all(api.mailbox)
    mails = [last_mail(api, email) for email in many]
    mails += [delivered(message) for message in api.mailbox.messages_to(both)]
    parts = [invitation_link_parts(api, mail) for mail in mails]
    tokens = [f"{org_id}.{secret}" for org_id, secret in parts]
    secrets_mailed = [secret for _, secret in parts]

    assert len(tokens) == len(set(secrets_mailed)) == 22
    assert sorted({org_id for org_id, _ in parts}) == sorted([org["id"], other_org["id"]])
    rows = invitation_rows(store_target, org["id"], other_org["id"])
    assert sorted(row.token_hash for row in rows) == sorted(
        hashlib.sha256(token.encode()).hexdigest() for token in tokens
    )
    sent = outbox_rows_to(store_target, [*many, both])
    assert len(sent) == 22
    assert {row.status for row in sent} == {"SENT"}
    stored_text = " ".join(str(value) for row in [*rows, *sent] for value in values_of(row))
    assert [secret for secret in secrets_mailed if secret in stored_text] == []


def test_acceptance_flow(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "create membership": ACTIVE membership, one epoch bump, an org-scoped token pair."""
    owner, org = api.owner_with_org()
    email = new_email("join")
    made = invited(api, owner, email)
    epoch = access.stored_epoch(api.tenantry, org["id"])
    clock.advance(minutes=1)

    accepted = as_new_user(api, link_token(api, email), name="Jo Joiner")
    invitee = accepted_account(accepted, email)

    membership = stored_membership(api.tenantry, org["id"], invitee.user_id)
    assert membership is not None
    assert (membership.org_role, membership.status, membership.joined_at) == (
        OrgRole.MEMBER,
        MembershipStatus.ACTIVE,
        clock.now(),
    )
    assert (membership.email, membership.name) == (email, "Jo Joiner")
    assert access.epoch_of(accepted) == access.stored_epoch(api.tenantry, org["id"]) == epoch + 1
    assert invitee.org_id == org["id"]
    scoped = api.client.get(f"/v1/organisations/{org['id']}", headers=invitee.auth)
    assert (scoped.status_code, scoped.json()["id"]) == (200, org["id"])
    members = api.client.get(access.org_path(owner, "members"), headers=owner.auth).json()
    assert [m["status"] for m in members["items"] if m["user_id"] == invitee.user_id] == ["ACTIVE"]
    [event] = audit_events(store_target, org_id=org["id"], action="invitation.accept")
    assert (event.actor_id, event.resource_id) == (invitee.user_id, made["id"])
    assert (event.details["roles"], event.details["team_id"]) == ([], None)
    assert event.details["authz_epoch"] == epoch + 1


# --- Email service -----------------------------------------------------------------------------


def test_invitation_email(api: Api) -> None:
    """Seed "template rendering": subject, text, escaped HTML, one /invitations/{token} link."""
    inviter = api.verified_account(name="Ada & <Lovelace>")
    registered = register_org(api, inviter, unique_slug(), name="<b>Acme & Co</b>")
    assert registered.status_code == 201, registered.text
    org = registered.json()
    inviter = api.switch_org(inviter, org["id"])
    email = new_email("mail")
    made = invited(api, inviter, email, org_role="ADMIN")

    mail = last_mail(api, email)
    link = mail.link(public_url(api))
    org_id, secret = invitation_link_parts(api, mail)
    shown = preview(api, f"{org_id}.{secret}").json()
    resend(api, inviter, made["id"])
    reminder = last_mail(api, email)

    subject = "Ada & <Lovelace> invited you to join <b>Acme & Co</b>"
    assert mail.message["Subject"] == subject
    assert (mail.message["X-Tenantry-Kind"], mail.message["To"]) == ("invitation", email)
    assert mail.message.get_content_type() == "multipart/alternative"
    assert link == f"{public_url(api)}/invitations/{org['id']}.{secret}"
    assert f"{subject}, as ADMIN." in mail.text
    assert "Ada &amp; &lt;Lovelace&gt; invited you to join" in mail.html
    assert "<strong>&lt;b&gt;Acme &amp; Co&lt;/b&gt;</strong>" in mail.html
    assert f"<title>{html.escape(subject, quote=False)}</title>" in mail.html
    assert "<b>" not in mail.html
    assert f"{at(made['expires_at']):%d %B %Y}" in mail.text
    assert (shown["organisation_name"], shown["inviter_name"]) == (
        "<b>Acme & Co</b>",
        "Ada & <Lovelace>",
    )
    assert reminder.message["Subject"] == f"Reminder: {subject}"
    assert reminder.link(public_url(api)) != link
    assert "&lt;b&gt;Acme &amp; Co&lt;/b&gt;" in reminder.html
    assert "<b>Acme & Co</b>" in reminder.text


def test_password_reset_email(api: Api, store_target: StoreTarget) -> None:
    """Seed "reset link": one {public_url}/reset-password?token= link, in both parts, works."""
    account = api.verified_account(name="Ada <i>&</i> Co")

    requested = api.client.post("/v1/auth/password-reset", json={"email": account.email})
    mail = last_mail(api, account.email)
    link = mail.link(public_url(api))
    confirmed = api.client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": query_token(link), "new_password": "a brand new passphrase"},
    )

    assert requested.status_code == 202, requested.text
    assert (mail.message["Subject"], mail.message["X-Tenantry-Kind"]) == (
        "Reset your password",
        "password_reset",
    )
    assert re.fullmatch(rf"{re.escape(public_url(api))}/reset-password\?token={SECRET}", link)
    assert "Hello Ada <i>&</i> Co," in mail.text
    assert "Hello Ada &lt;i&gt;&amp;&lt;/i&gt; Co," in mail.html
    assert confirmed.status_code == 204, confirmed.text
    assert api.login(account.email, "a brand new passphrase").status_code == 200
    assert_problem(api.login(account.email), 401, "invalid_credentials")
    [reset] = audit_events(
        store_target, org_id=None, actor_id=account.user_id, action="user.password_reset"
    )
    assert reset.outcome is Outcome.SUCCESS


def test_verification_email(api: Api, clock: TestClock, store_target: StoreTarget) -> None:
    """Seed "verify link": one {public_url}/verify-email?token= link, in both parts, works."""
    email = new_email("verify")

    signed_up = api.signup(email, name="Vera <Verify>")
    mail = last_mail(api, email)
    link = mail.link(public_url(api))
    verified = api.client.post("/v1/auth/verify-email", json={"token": query_token(link)})

    assert signed_up.status_code == 202, signed_up.text
    assert (mail.message["Subject"], mail.message["X-Tenantry-Kind"]) == (
        "Verify your email address",
        "verify_email",
    )
    assert re.fullmatch(rf"{re.escape(public_url(api))}/verify-email\?token={SECRET}", link)
    assert "Hello Vera <Verify>," in mail.text
    assert "Hello Vera &lt;Verify&gt;," in mail.html
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified"] is True
    [row] = user_rows(store_target, email)
    assert row.email_verified_at == clock.now()
    [event] = audit_events(store_target, org_id=None, actor_id=row.id, action="user.verify_email")
    assert event.outcome is Outcome.SUCCESS
