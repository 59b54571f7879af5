"""Fifty accepts of one invitation released at once, through the HTTP app, on SQLite,
PostgreSQL and DynamoDB: by the invited user (fifty requests with their bearer token), and by
two users of a forwarded link (new accounts racing, and a signed-in stranger). Exactly one accept
commits: one membership, one team membership, one `member_count` increment and one
ACCEPTED event; every other racer gets a 4xx with its code, never a 5xx.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tenantry.domain.model import MembershipStatus
from tests.access_builders import made_team, org_path, stored_team, stored_team_members
from tests.concurrency.racing import race_requests
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    Account,
    Api,
    StoreTarget,
    audit_events,
    unique_email,
)

pytestmark = [ON_EVERY_STORE, pytest.mark.races]

RACERS = 50


def invited_token(api: Api, owner: Account, email: str, team_id: str) -> str:
    made = api.client.post(
        org_path(owner, "invitations"),
        json={"email": email, "team_id": team_id},
        headers=owner.auth,
    )
    assert made.status_code == 201, made.text
    return api.mailbox.last_invitation_token(email)


def accepted_once(api: Api, store_target: StoreTarget, org_id: str, team_id: str) -> None:
    members = [
        m
        for m in audit_events(store_target, org_id=org_id, action="invitation.accept")
        if m.outcome.value == "SUCCESS"
    ]
    assert len(members) == 1
    team = stored_team(api.tenantry, org_id, team_id)
    assert team is not None
    assert team.member_count == 1
    assert len(stored_team_members(api.tenantry, org_id, team_id)) == 1


def test_fifty_accepts_by_the_invited_user_make_one_membership(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    team_id = made_team(api, owner, "Racers")
    invitee = api.verified_account()
    token = invited_token(api, owner, invitee.email, team_id)
    path = f"/v1/invitations/{token}/accept"

    answers = race_requests(api.client.app, [lambda c: c.post(path, headers=invitee.auth)] * RACERS)

    codes = Counter(_code(a) for a in answers)
    assert codes[200] == 1, codes
    assert set(codes) <= {200, "invitation_accepted", "already_member"}, codes
    with api.tenantry.store.unit_of_work(org_id=org["id"]) as uow:
        membership = uow.memberships.get(org["id"], invitee.user_id)
    assert membership is not None
    assert membership.status is MembershipStatus.ACTIVE
    accepted_once(api, store_target, org["id"], team_id)


def test_a_forwarded_link_raced_by_new_accounts_and_a_stranger_is_accepted_once(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    team_id = made_team(api, owner, "Forwarded")
    token = invited_token(api, owner, unique_email("forwarded"), team_id)
    stranger = api.verified_account()
    path = f"/v1/invitations/{token}/accept"
    body = {"name": "Racer", "password": PASSWORD}
    requests = [lambda c: c.post(path, json=body)] * (RACERS - 10)
    requests += [lambda c: c.post(path, headers=stranger.auth)] * 10

    answers = race_requests(api.client.app, requests)

    codes = Counter(_code(a) for a in answers)
    assert codes[200] == 1, codes
    # The stranger is refused as such, or, once the link is used, as anyone else is.
    assert codes["invitation_for_another_user"] + codes["invitation_accepted"] >= 10, codes
    assert set(codes) <= {
        200,
        "invitation_accepted",
        "invitation_for_another_user",
        "email_taken",
    }, codes
    members = api.client.get(org_path(owner, "members"), headers=owner.auth).json()["items"]
    assert len(members) == 2  # the owner and the one who accepted
    accepted_once(api, store_target, org["id"], team_id)


def _code(answer: Any) -> int | str:
    if answer.status_code == 200:
        return 200
    assert 400 <= answer.status_code < 500, answer.text
    code: str = answer.json()["code"]
    return code
