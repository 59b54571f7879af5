"""Mass assignment: a field the server owns (an id, a status, an epoch, a count, a hash, a
role where the route takes none) added to an otherwise valid body of any write route of the
live OpenAPI document is refused 422 `validation_failed`, naming the field, and changes
nothing; and no answer of any route carries a secret field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantry.testing.oracles import secret_fields
from tests.harness import Api, StoreTarget
from tests.org_builders import stored_organisation
from tests.security.test_no_5xx_after_commit import PLAUSIBLE, Caller, org_changes, write_routes

pytestmark = pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)  # the models

# What a client might hope to set: each is the server's to decide.
SERVER_OWNED: dict[str, Any] = {
    "id": "usr_" + "a" * 24,
    "org_id": "org_" + "a" * 24,
    "owner_id": "usr_" + "a" * 24,
    "status": "ACTIVE",
    "authz_epoch": 0,
    "session_epoch": 0,
    "member_count": 1_000_000,
    "created_at": "2020-01-01T00:00:00Z",
    "email_verified": True,
    "password_hash": "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
    "org_role": "OWNER",
    "permissions": ["*:*"],
    "is_admin": True,
}


def test_a_server_owned_field_in_any_write_body_is_refused_and_changes_nothing(
    api: Api, store_target: StoreTarget
) -> None:
    caller = Caller.new(api)
    routes = [route for route in write_routes(api) if route.fields]
    assert len(routes) >= 20
    wrong = []

    for route in routes:
        valid = {name: PLAUSIBLE[name](caller.account, caller.org_id) for name in route.fields}
        for field, value in SERVER_OWNED.items():
            if field in route.fields:
                continue  # the route takes it (a role to assign, a user to add)
            before = stored_organisation(api.tenantry, caller.org_id)
            changes = org_changes(store_target, caller.org_id)
            answer = caller.send(api, route, json.dumps({**valid, field: value}))
            body = answer.json()
            named = json.dumps(body.get("errors", body))
            if answer.status_code != 422 or body.get("code") != "validation_failed":
                wrong.append(f"{route.label} + {field}: {answer.status_code} {answer.text[:160]}")
            elif field not in named:
                wrong.append(f"{route.label} + {field}: the refusal does not name it: {named}")
            elif stored_organisation(api.tenantry, caller.org_id) != before:
                wrong.append(f"{route.label} + {field}: the organisation changed")
            elif org_changes(store_target, caller.org_id) != changes:
                wrong.append(f"{route.label} + {field}: a change was recorded")

    assert not wrong, "\n".join(wrong)


def test_no_answer_of_the_walked_routes_holds_a_secret_field(api: Api) -> None:
    """What the probe checks on every answer, on the answers that carry the most: an account,
    its sessions, a member list, a token pair, an invitation, an audit page."""
    caller = Caller.new(api)
    auth = caller.account.auth
    org = f"/v1/organisations/{caller.org_id}"
    invited = api.client.post(org + "/invitations", json={"email": "x@example.com"}, headers=auth)
    answers = [
        api.login(caller.account.email, caller.account.password, org_id=caller.org_id),
        invited,
        *(
            api.client.get(path, headers=auth)
            for path in (
                "/v1/me",
                "/v1/me/sessions",
                org,
                org + "/members",
                org + "/invitations",
                org + "/audit-events",
                org + "/roles",
                org + "/teams",
            )
        ),
    ]

    assert [a.status_code for a in answers] == [200, 201] + [200] * 8
    assert {a.request.url.path: list(secret_fields(a)) for a in answers} == {
        a.request.url.path: [] for a in answers
    }
