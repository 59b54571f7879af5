"""Invitations through the HTTP API, with the email received by a real SMTP server on loopback.

Flow 1 of seeds/001 (invite → email → accept → membership, roles and team → audit) and its
cases, on SQLite and PostgreSQL: the link is read out of the delivered email and followed;
what acceptance made is read back through the API and the store, and the audit trail is
checked, including that no invitation token is in any event.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tenantry.domain.audit import Outcome
from tenantry.domain.model import MembershipStatus
from tenantry.domain.roles import OrgRole
from tests import access_builders as access
from tests import token_sweep
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    bearer,
)
from tests.harness import unique_email as new_email
from tests.integration.account_checks import assert_problem
from tests.org_builders import stored_membership

pytestmark = ON_EVERY_STORE


def invite(api: Api, inviter: Account, email: str, **binding: Any) -> Any:
    return api.client.post(
        access.org_path(inviter, "invitations"),
        json={"email": email, **binding},
        headers=inviter.auth,
    )


def invited(api: Api, inviter: Account, email: str, **binding: Any) -> dict[str, Any]:
    response = invite(api, inviter, email, **binding)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def link_token(api: Api, email: str) -> str:
    return api.mailbox.last_invitation_token(email)


def accept(api: Api, token: str, *, account: Account | None = None, **body: Any) -> Any:
    headers = account.auth if account is not None else {}
    return api.client.post(f"/v1/invitations/{token}/accept", json=body, headers=headers)


def as_new_user(api: Api, token: str, name: str = "Ivy Invitee") -> Any:
    return accept(api, token, name=name, password=PASSWORD)


def invitation_events(target: StoreTarget, org_id: str | None) -> list[Any]:
    return [e for e in audit_events(target, org_id=org_id) if e.action.startswith("invitation")]


def test_complete_invitation_flow_success(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    role_id = access.made_role(api, owner, "Site editor", ["site:publish"])
    team_id = access.made_team(api, owner, "Platform")
    email = new_email("ivy")

    made = invited(api, owner, email, org_role="MEMBER", role_ids=[role_id], team_id=team_id)
    [mail] = api.mailbox.messages_to(email)
    token = link_token(api, email)
    shown = api.client.get(f"/v1/invitations/{token}")
    accepted = as_new_user(api, token)

    assert made["status"] == "PENDING"
    assert "token" not in json.dumps(made)
    assert mail["Subject"] == "Test User invited you to join Acme"
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "organisation_name": "Acme",
        "inviter_name": "Test User",
        "org_role": "MEMBER",
        "team_name": "Platform",
        "expires_at": made["expires_at"],
        "status": "PENDING",
    }
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["invitation"]["status"] == "ACCEPTED"
    assert body["tokens"]["organisation_id"] == org["id"]
    invitee_id = body["invitation"]["accepted_by"]
    invitee = bearer(body["tokens"]["access_token"])
    me = api.client.get("/v1/me", headers=invitee).json()
    assert (me["email"], me["email_verified"]) == (email, True)
    members = api.client.get(access.org_path(owner, "members"), headers=owner.auth).json()
    assert {(m["user_id"], m["org_role"]) for m in members["items"]} == {
        (owner.user_id, "OWNER"),
        (invitee_id, "MEMBER"),
    }
    assert [a.role_id for a in access.stored_assignments(api.tenantry, org["id"], invitee_id)] == [
        role_id
    ]
    team = access.stored_team(api.tenantry, org["id"], team_id)
    assert team is not None
    assert team.member_count == 1
    assert [m.user_id for m in access.stored_team_members(api.tenantry, org["id"], team_id)] == [
        invitee_id
    ]
    assert "site:publish" in access.held(api, owner, invitee_id)
    events = audit_events(store_target, org_id=org["id"])
    mine = [
        (e.action, e.actor_id, e.resource_id) for e in events if e.action != "transaction.commit"
    ]
    assert ("invitation.create", owner.user_id, made["id"]) in mine
    assert ("invitation.accept", invitee_id, made["id"]) in mine
    assert ("role.assign", invitee_id, invitee_id) in mine
    assert ("team.member_add", invitee_id, team_id) in mine
    assert all(token not in json.dumps(e.details) for e in events)


def test_invitation_with_audit_events(api: Api) -> None:
    """seeds/001 flow 1: the invitation's audit trail, read back through the audit API."""
    owner, org = api.owner_with_org()
    role_id = access.made_role(api, owner, "Site editor", ["site:publish"])
    team_id = access.made_team(api, owner, "Platform")
    email = new_email("ivy")
    made = invited(api, owner, email, role_ids=[role_id], team_id=team_id)
    accepted = as_new_user(api, link_token(api, email))
    invitee_id = accepted.json()["invitation"]["accepted_by"]

    answer = api.client.get(
        access.org_path(owner, "audit-events"),
        params={"event_type": "INVITATION", "resource_id": made["id"]},
        headers=owner.auth,
    )

    assert answer.status_code == 200, answer.text
    accept, create = answer.json()["items"]  # newest first
    assert (create["action"], create["actor_id"], create["outcome"]) == (
        "invitation.create",
        owner.user_id,
        "SUCCESS",
    )
    assert (accept["action"], accept["actor_id"], accept["outcome"]) == (
        "invitation.accept",
        invitee_id,
        "SUCCESS",
    )
    for event in (create, accept):
        assert (event["resource_type"], event["org_id"]) == ("invitation", org["id"])
        assert event["details"]["email"] == email
        assert event["details"]["role_ids"] == [role_id]
        assert event["details"]["team_id"] == team_id
    assert accept["details"]["roles"] == [role_id]
    assert accept["details"]["authz_epoch"] > create["details"]["authz_epoch"]
    assert accept["prev_hash"] is not None


def test_a_signed_in_user_with_the_invited_address_accepts_as_themselves(api: Api) -> None:
    owner, org = api.owner_with_org()
    invitee = api.verified_account()
    invited(api, owner, invitee.email, org_role="ADMIN")

    accepted = accept(api, link_token(api, invitee.email), account=invitee)

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["invitation"]["accepted_by"] == invitee.user_id
    scoped = bearer(accepted.json()["tokens"]["access_token"])
    listed = api.client.get(f"/v1/organisations/{org['id']}/members", headers=scoped)
    assert listed.status_code == 200, listed.text


def test_another_users_bearer_is_refused_and_the_refusal_is_on_record(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    someone_else = api.verified_account()

    refused = accept(api, link_token(api, email), account=someone_else)

    assert_problem(refused, 403, "invitation_for_another_user")
    [event] = [e for e in invitation_events(store_target, org["id"]) if e.reason]
    assert (event.actor_id, event.resource_id, event.reason) == (
        someone_else.user_id,
        made["id"],
        "invitation_for_another_user",
    )


def test_invitation_cannot_be_accepted_twice(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    token = link_token(api, email)
    first = as_new_user(api, token)

    again = as_new_user(api, token)

    assert first.status_code == 200, first.text
    assert_problem(again, 409, "invitation_accepted")
    refusals = [e for e in invitation_events(store_target, org["id"]) if e.reason]
    assert [(e.resource_id, e.reason) for e in refusals] == [(made["id"], "invitation_accepted")]


def test_invitation_expired_cannot_be_accepted(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    token = link_token(api, email)
    clock.advance(days=7, seconds=1)
    owner = api.switch_org(owner, org["id"])

    refused = as_new_user(api, token)
    shown = api.client.get(f"/v1/invitations/{token}").json()
    expired = api.client.get(
        access.org_path(owner, "invitations"), params={"status": "EXPIRED"}, headers=owner.auth
    ).json()

    assert_problem(refused, 410, "invitation_expired")
    assert shown["status"] == "EXPIRED"
    assert [i["id"] for i in expired["items"]] == [made["id"]]
    assert [e.reason for e in invitation_events(store_target, org["id"]) if e.reason] == [
        "invitation_expired"
    ]


def test_a_revoked_invitation_cannot_be_accepted(api: Api) -> None:
    owner, _ = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    token = link_token(api, email)

    revoked = api.client.delete(
        access.org_path(owner, "invitations", made["id"]), headers=owner.auth
    )
    refused = as_new_user(api, token)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "REVOKED"
    assert_problem(refused, 409, "invitation_revoked")


def test_a_resend_mails_a_new_link_and_the_old_one_is_dead_at_once(api: Api) -> None:
    owner, _ = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    old = link_token(api, email)

    resent = api.client.post(
        access.org_path(owner, "invitations", made["id"], "resend"), headers=owner.auth
    )
    new = link_token(api, email)

    assert resent.status_code == 200, resent.text
    assert resent.json()["resend_count"] == 1
    assert new != old
    assert api.mailbox.messages_to(email)[-1]["Subject"].startswith("Reminder: ")
    assert_problem(as_new_user(api, old), 404, "invitation_not_found")
    assert as_new_user(api, new).status_code == 200


def test_a_second_pending_invitation_and_a_members_address_are_refused(api: Api) -> None:
    owner, org = api.owner_with_org()
    email = new_email("ivy")
    made = invited(api, owner, email)
    member = api.member_of(org["id"])

    duplicate = invite(api, owner, email.upper())
    of_a_member = invite(api, owner, member.email)

    body = assert_problem(duplicate, 409, "invitation_pending")
    assert body["invitation_id"] == made["id"]
    assert_problem(of_a_member, 409, "already_member")
    assert len(api.mailbox.messages_to(email)) == 1


def test_an_inviter_binds_only_what_they_could_grant(api: Api) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)
    member = api.member_of(org["id"])
    secret_role = access.made_role(api, owner, "Billing", ["billing:*"])

    assert_problem(invite(api, admin, new_email(), org_role="OWNER"), 403, "owner_required")
    assert_problem(
        invite(api, admin, new_email(), role_ids=[secret_role]), 403, "permission_escalation"
    )
    assert_problem(invite(api, member, new_email()), 403, "permission_denied")
    assert invite(api, admin, new_email(), org_role="ADMIN").status_code == 201


def test_an_unknown_or_malformed_link_is_the_same_404(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    other_org_token = f"{org['id']}.{'x' * 43}"

    for token in ("nonsense", other_org_token, "org_nope." + "y" * 43):
        assert_problem(api.client.get(f"/v1/invitations/{token}"), 404, "invitation_not_found")
        assert_problem(as_new_user(api, token), 404, "invitation_not_found")

    system = audit_events(store_target, org_id=None, action="invitation.accept")
    assert [e.reason for e in system][-3:] == ["invitation_not_found"] * 3


def test_data_isolation_between_orgs(api: Api) -> None:
    owner, org = api.owner_with_org()
    other, _ = api.owner_with_org()
    made = invited(api, owner, new_email())

    listed = api.client.get(f"/v1/organisations/{org['id']}/invitations", headers=other.auth)
    one = api.client.get(
        f"/v1/organisations/{org['id']}/invitations/{made['id']}", headers=other.auth
    )
    theirs = api.client.get(access.org_path(other, "invitations"), headers=other.auth).json()

    assert_problem(listed, 404, "organisation_not_found")
    assert_problem(one, 404, "organisation_not_found")
    assert theirs["items"] == []


def test_the_token_is_in_no_response_log_line_or_audit_event(
    api: Api, store_target: StoreTarget, capsys: Any
) -> None:
    owner, org = api.owner_with_org()
    email = new_email("ivy")
    answers = [invite(api, owner, email)]
    token = link_token(api, email)
    answers.append(api.client.get(f"/v1/invitations/{token}"))
    answers.append(as_new_user(api, token))
    answers.append(as_new_user(api, token))  # refused: on record
    answers.append(api.client.get(access.org_path(owner, "invitations"), headers=owner.auth))

    assert token_sweep.was_mailed(token)  # the suite-wide sweep knows it, and checks it too
    captured = capsys.readouterr()
    logged = captured.out + captured.err  # where the logs go depends on the last set-up
    assert "path=/v1/invitations/{invitation_token}/accept" in logged  # the request was logged
    assert token not in logged
    assert all(token not in answer.text for answer in answers)
    assert all(token not in h for answer in answers for h in answer.headers.values())
    for chain in (org["id"], None):
        assert all(
            token not in json.dumps(e.details) for e in audit_events(store_target, org_id=chain)
        )


# --- bulk -------------------------------------------------------------------------------------


def bulk(api: Api, inviter: Account, rows: list[dict[str, Any]], **flags: Any) -> Any:
    path = access.org_path(inviter, "invitations", "bulk")
    return api.client.post(path, json={"invitations": rows, **flags}, headers=inviter.auth)


def statuses(response: Any) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, response.text
    return [(r["status"], r["code"]) for r in response.json()["rows"]]


def test_bulk_gives_each_row_its_result_and_writes_the_good_ones(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    pending = new_email("pending")
    invited(api, owner, pending)
    fresh, again = new_email("fresh"), new_email("again")
    rows: list[dict[str, Any]] = [
        {"email": fresh},
        {"email": pending},
        {"email": member.email},
        {"email": "not an address"},
        {"email": again, "org_role": "ADMIN"},
        {"email": again.upper()},
        {"email": new_email(), "role_ids": ["rol_nope"]},
    ]

    answer = bulk(api, owner, rows)

    assert statuses(answer) == [
        ("created", None),
        ("duplicate", "invitation_pending"),
        ("already_member", "already_member"),
        ("invalid", "invalid_email"),
        ("created", None),
        ("duplicate", "duplicate_row"),
        ("refused", "role_not_found"),
    ]
    assert answer.json()["written"] is True
    assert int(answer.headers["Tenantry-Authz-Epoch"]) > 0
    made = [r["invitation"]["id"] for r in answer.json()["rows"] if r["invitation"]]
    listed = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth).json()
    assert set(made) <= {i["id"] for i in listed["items"]}
    assert len(api.mailbox.messages_to(fresh)) == len(api.mailbox.messages_to(again)) == 1
    created = [
        e for e in invitation_events(store_target, org["id"]) if e.action == "invitation.create"
    ]
    assert {e.resource_id for e in created} >= set(made)
    # A row naming a role the organisation does not have is on record, as one invitation's
    # 404 is (it may be another tenant's role); the sender's own slips are not.
    refused = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.action, e.reason, e.details) for e in refused] == [
        (owner.user_id, "invitation:create", "role_not_found", {"row": 6})
    ]


def test_bulk_all_or_nothing_writes_nothing_when_a_row_fails(api: Api) -> None:
    owner, org = api.owner_with_org()
    good, bad_role = new_email("good"), access.made_role(api, owner, "Top", ["billing:*"])
    admin = api.member_of(org["id"], OrgRole.ADMIN)

    answer = bulk(
        api,
        admin,
        [{"email": good}, {"email": new_email(), "role_ids": [bad_role]}],
        all_or_nothing=True,
    )

    assert statuses(answer) == [("created", None), ("refused", "permission_escalation")]
    assert answer.json()["written"] is False
    listed = api.client.get(access.org_path(owner, "invitations"), headers=owner.auth).json()
    assert listed["items"] == []
    assert api.mailbox.messages_to(good) == []


def test_a_bulk_dry_run_checks_and_writes_nothing(api: Api) -> None:
    owner, _ = api.owner_with_org()
    email = new_email("dry")

    answer = bulk(api, owner, [{"email": email}], dry_run=True)

    assert statuses(answer) == [("created", None)]
    assert answer.json()["written"] is False
    assert answer.json()["rows"][0]["invitation"] is None
    assert api.mailbox.messages_to(email) == []
    assert invite(api, owner, email).status_code == 201  # nothing pending was left behind


def test_bulk_beyond_its_limit_is_refused_whole(api: Api) -> None:
    owner, _ = api.owner_with_org()
    rows = [{"email": new_email()} for _ in range(api.tenantry.settings.bulk_invitation_max + 1)]

    assert_problem(bulk(api, owner, rows), 422, "too_many_rows")


def test_the_largest_bulk_whose_rows_all_replace_expired_invitations_commits_whole(
    api: Api, clock: TestClock
) -> None:
    """A row that replaces an expired invitation writes the most (on DynamoDB the rows of a
    bulk, one transaction, are capped so that even then they fit its 100 items)."""
    owner, org = api.owner_with_org()
    rows = [
        {"email": new_email("again")}
        for _ in range(min(15, api.tenantry.settings.bulk_invitation_max))
    ]
    assert statuses(bulk(api, owner, rows)) == [("created", None)] * len(rows)
    clock.advance(days=7, seconds=1)
    owner = api.switch_org(owner, org["id"])

    again = bulk(api, owner, rows)

    assert statuses(again) == [("created", None)] * len(rows)
    assert again.json()["written"] is True
    listed = {
        status: api.client.get(
            access.org_path(owner, "invitations"),
            params={"status": status, "limit": 100},
            headers=owner.auth,
        ).json()["items"]
        for status in ("PENDING", "EXPIRED")
    }
    wanted = sorted(row["email"] for row in rows)
    assert sorted(i["email"] for i in listed["PENDING"]) == wanted
    assert sorted(i["email"] for i in listed["EXPIRED"]) == wanted


# --- a former member invited again ------------------------------------------------------------


def joined_by_invitation(
    api: Api, inviter: Account, account: Account, **binding: Any
) -> dict[str, Any]:
    """`account`'s user invited with `binding` and accepted, signed in: the acceptance."""
    made = invited(api, inviter, account.email, **binding)
    accepted = accept(api, link_token(api, account.email), account=account)
    assert accepted.status_code == 200, accepted.text
    body: dict[str, Any] = accepted.json()
    assert body["invitation"]["id"] == made["id"]
    return body


def assert_rejoined_with_only(
    api: Api,
    store_target: StoreTarget,
    owner: Account,
    user_id: str,
    rejoined: dict[str, Any],
    *,
    joined_at: datetime,
    old_team: str,
) -> None:
    """The rejoined membership holds what the new invitation bound, and nothing of what the
    user had before (the ADMIN role, the billing role, the team `old_team`)."""
    org_id, invitation = rejoined["tokens"]["organisation_id"], rejoined["invitation"]
    membership = stored_membership(api.tenantry, org_id, user_id)
    assert membership is not None
    assert (membership.status, membership.org_role) == (MembershipStatus.ACTIVE, OrgRole.MEMBER)
    assert (membership.joined_at, membership.ended_at) == (joined_at, None)
    [role_id] = invitation["role_ids"]
    assigned = access.stored_assignments(api.tenantry, org_id, user_id)
    assert [a.role_id for a in assigned] == [role_id]
    in_new_team = access.stored_team_members(api.tenantry, org_id, invitation["team_id"])
    assert [(m.user_id, m.team_role) for m in in_new_team] == [(user_id, "LEAD")]
    assert access.stored_team_members(api.tenantry, org_id, old_team) == []
    old = access.stored_team(api.tenantry, org_id, old_team)
    assert old is not None
    assert old.member_count == 0
    held = access.held(api, owner, user_id)
    assert "site:publish" in held
    assert "billing:read" not in held
    members = api.client.get(access.org_path(owner, "members"), headers=owner.auth).json()
    assert [(m["user_id"], m["org_role"]) for m in members["items"] if m["user_id"] == user_id] == [
        (user_id, "MEMBER")
    ]
    accepts = audit_events(store_target, org_id=org_id, resource_id=invitation["id"])
    assert [(e.action, e.actor_id) for e in accepts if e.action == "invitation.accept"] == [
        ("invitation.accept", user_id)
    ]
    events = audit_events(store_target, org_id=org_id, actor_id=user_id)
    granted = [
        (e.action, e.resource_id, e.details.get("role_id"))
        for e in events
        if e.details.get("invitation_id") == invitation["id"]
    ]
    assert granted == [
        ("role.assign", user_id, role_id),
        ("team.member_add", invitation["team_id"], None),
    ]


def former_binding(api: Api, owner: Account) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a user was invited with first (an ADMIN with a billing role in one team) and
    what they are invited back with (a MEMBER with a publishing role, LEAD of another)."""
    before = {
        "org_role": "ADMIN",
        "role_ids": [access.made_role(api, owner, "Billing", ["billing:read"])],
        "team_id": access.made_team(api, owner, "Finance"),
    }
    after = {
        "org_role": "MEMBER",
        "role_ids": [access.made_role(api, owner, "Site editor", ["site:publish"])],
        "team_id": access.made_team(api, owner, "Platform"),
        "team_role": "LEAD",
    }
    return before, after


@pytest.mark.parametrize("ending", ["member.remove", "member.leave"])
def test_a_former_member_invited_again_rejoins_with_the_new_invitation_only(
    api: Api, clock: TestClock, store_target: StoreTarget, ending: str
) -> None:
    owner, org = api.owner_with_org()
    before, after = former_binding(api, owner)
    user = api.verified_account()
    first = joined_by_invitation(api, owner, user, **before)
    # Removed by the owner, or leaving with their own org-scoped token.
    by = owner if ending == "member.remove" else user
    headers = owner.auth if by is owner else bearer(first["tokens"]["access_token"])
    clock.advance(minutes=1)
    ended = api.client.delete(access.org_path(owner, "members", user.user_id), headers=headers)
    clock.advance(minutes=1)

    rejoined = joined_by_invitation(api, owner, user, **after)

    assert ended.status_code == 204, ended.text
    assert rejoined["invitation"]["id"] != first["invitation"]["id"]
    assert rejoined["tokens"]["organisation_id"] == org["id"]
    assert_rejoined_with_only(
        api,
        store_target,
        owner,
        user.user_id,
        rejoined,
        joined_at=clock.now(),
        old_team=before["team_id"],
    )
    [event] = audit_events(store_target, org_id=org["id"], action=ending)
    assert (event.actor_id, event.resource_id) == (by.user_id, user.user_id)
    scoped = bearer(rejoined["tokens"]["access_token"])
    assert api.client.get(access.org_path(owner, "members"), headers=scoped).status_code == 200
