"""`POST /v1/authorize` through HTTP: seeds 001 flow 3 (authorization) and its authorizer
cases rewritten to drive tenantry, every reason a decision gives, the conformance vectors,
batches, read-your-writes (`min_epoch`) and the rate limit on audited denials."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.domain.audit import Outcome
from tenantry.domain.roles import OrgRole
from tests.access_builders import (
    MEMBER_GRANTS,
    NO_MATCH,
    VECTORS,
    add_to_team,
    answer,
    assert_one_denial,
    assign,
    by_granted_set,
    delete_role,
    denials,
    denied,
    details,
    epoch_of,
    granted,
    grants_of,
    joined,
    made_role,
    made_team,
    patch_role,
    remove_member,
    role_path,
    stored_epoch,
    unassign,
)
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    bearer,
)
from tests.integration.account_checks import audit_events_of

# --- asking, and what the answers and the audit trail should say ----------------------------

pytestmark = ON_EVERY_STORE


def post_authorize(api: Api, token: str | None, body: dict[str, Any]) -> Any:
    headers = bearer(token) if token is not None else {}
    return api.client.post("/v1/authorize", json=body, headers=headers)


def check(api: Api, who: Account | str, org_id: str, permission: str, **options: Any) -> Any:
    """Ask about one permission with `who`'s token (`team_id`, `min_epoch`, `explain`)."""
    token = who.access_token if isinstance(who, Account) else who
    return post_authorize(
        api, token, {"organisation_id": org_id, "permission": permission, **options}
    )


def check_all(api: Api, who: Account, org_id: str, permissions: list[str], **options: Any) -> Any:
    body = {"organisation_id": org_id, "permissions": permissions, **options}
    return post_authorize(api, who.access_token, body)


def member_with_role(
    api: Api, owner: Account, name: str, permissions: list[str]
) -> tuple[Account, str]:
    """A new MEMBER of the owner's organisation holding a new custom role; and the role's id."""
    assert owner.org_id is not None
    member = api.member_of(owner.org_id)
    role_id = made_role(api, owner, name, permissions)
    assigned = assign(api, owner, member.user_id, role_id)
    assert assigned.status_code == 200, assigned.text
    return member, role_id


# --- seeds 001 flow 3: the authorizer's cases, asked through /v1/authorize ------------------


def test_permission_resolution_from_roles(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member, role_id = member_with_role(
        api, owner, "Site editor", ["site:read", "site:create", "team:read"]
    )
    asked = ["site:read", "site:create", "team:read"]

    explained = check_all(api, member, org["id"], asked, explain=True)
    plain = check_all(api, member, org["id"], asked)

    editor = role_path(role_id, "Site editor")
    epoch = stored_epoch(api.tenantry, org["id"])
    assert explained.status_code == 200, explained.text
    assert explained.json() == answer(
        member.user_id,
        org["id"],
        granted("site:read", "site:read", editor),
        granted("site:create", "site:create", editor),
        # Held twice, from the built-in role and the custom one: the path's text decides.
        granted("team:read", "team:read", "org_role:MEMBER"),
        allowed=True,
        org_role="MEMBER",
        epoch=epoch,
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["decisions"] == [
        {"permission": p, "allowed": True, "reason": "granted", "grant": None} for p in asked
    ]
    assert denials(store_target, org["id"], member.user_id) == []


def test_team_membership_resolution(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    web, docs = made_team(api, owner, "Web"), made_team(api, owner, "Docs")
    reviewer = made_role(api, owner, "Reviewer", ["site:review"], scope="TEAM")
    assert add_to_team(api, owner, web, member.user_id, "LEAD").status_code == 201
    assert add_to_team(api, owner, docs, member.user_id, reviewer).status_code == 201
    asked = ["team:member:add", "site:review"]

    in_web = check_all(api, member, org["id"], asked, team_id=web, explain=True)
    in_docs = check_all(api, member, org["id"], asked, team_id=docs, explain=True)
    org_wide = check_all(api, member, org["id"], asked, explain=True)

    standing: dict[str, Any] = {
        "org_role": "MEMBER",
        "team_ids": sorted([web, docs]),
        "epoch": stored_epoch(api.tenantry, org["id"]),
    }
    for response in (in_web, in_docs, org_wide):
        assert response.status_code == 200, response.text
    assert in_web.json() == answer(
        member.user_id,
        org["id"],
        granted("team:member:add", "team:member:add", f"team:{web}/LEAD", web),
        denied("site:review"),
        allowed=False,
        **standing,
    )
    assert in_docs.json() == answer(
        member.user_id,
        org["id"],
        denied("team:member:add"),
        granted("site:review", "site:review", f"team:{docs}/{reviewer}(Reviewer)", docs),
        allowed=False,
        **standing,
    )
    assert org_wide.json() == answer(
        member.user_id,
        org["id"],
        denied("team:member:add"),
        denied("site:review"),
        allowed=False,
        **standing,
    )
    # One event per permission a minute, whichever team was asked about: the organisation-wide
    # denials come within the minute and are counted, not recorded.
    assert denials(store_target, org["id"], member.user_id) == [
        ("site:review", NO_MATCH, web, details(org["id"], team_id=web)),
        ("team:member:add", NO_MATCH, docs, details(org["id"], team_id=docs)),
    ]


def test_org_access_validation(api: Api, store_target: StoreTarget) -> None:
    _, org_a = api.owner_with_org()
    _, org_b = api.owner_with_org()
    member = api.member_of(org_a["id"])
    in_b = joined(api, member, org_b["id"])  # a member of both, with a token for each

    crossing = check(api, member, org_b["id"], "organisation:read")
    own = check(api, in_b, org_b["id"], "organisation:read")

    assert crossing.status_code == 200, crossing.text
    assert crossing.json() == answer(
        member.user_id, org_b["id"], denied("organisation:read", "org_mismatch"), allowed=False
    )
    assert own.status_code == 200, own.text
    assert own.json()["allowed"] is True
    # On record in the token's organisation, naming the one it asked about.
    assert denials(store_target, org_a["id"], member.user_id) == [
        ("organisation:read", "org_mismatch", org_b["id"], details(org_b["id"]))
    ]
    assert denials(store_target, org_b["id"], member.user_id) == []


def test_wildcard_permission_matching(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    site_admin, site_role = member_with_role(api, owner, "Site admin", ["site:*"])
    super_admin, super_role = member_with_role(api, owner, "Super admin", ["*:*"])
    reader, _ = member_with_role(api, owner, "Reader", ["site:read"])
    asked = ["site:delete", "site:page:edit", "billing:invoice:pdf:download", "sites:read"]

    answers = {
        who.user_id: check_all(api, who, org["id"], asked, explain=True)
        for who in (site_admin, super_admin, reader)
    }

    for response in answers.values():
        assert response.status_code == 200, response.text
    site, anything = role_path(site_role, "Site admin"), role_path(super_role, "Super admin")
    assert answers[site_admin.user_id].json()["decisions"] == [
        granted("site:delete", "site:*", site),
        granted("site:page:edit", "site:*", site),
        denied("billing:invoice:pdf:download"),
        denied("sites:read"),
    ]
    assert answers[super_admin.user_id].json()["decisions"] == [
        granted(p, "*:*", anything) for p in asked
    ]
    assert answers[reader.user_id].json()["decisions"] == [denied(p) for p in asked]
    assert [d[0] for d in denials(store_target, org["id"], site_admin.user_id)] == [
        "billing:invoice:pdf:download",
        "sites:read",
    ]
    assert denials(store_target, org["id"], super_admin.user_id) == []
    assert sorted(d[0] for d in denials(store_target, org["id"], reader.user_id)) == sorted(asked)


def test_inactive_role_filtered_out(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member, role_id = member_with_role(api, owner, "Publisher", ["site:publish"])
    before = check(api, member, org["id"], "site:publish", explain=True)
    assert before.status_code == 200, before.text
    assert before.json()["decisions"] == [
        granted("site:publish", "site:publish", role_path(role_id, "Publisher"))
    ]
    # The first check left the member's compiled snapshot in this process's cache.
    cached = api.tenantry.authorizer.snapshots.get(
        org["id"], member.user_id, before.json()["epoch"]
    )
    assert cached is not None

    deleted = delete_role(api, owner, role_id)
    after = check(api, member, org["id"], "site:publish", explain=True)

    assert deleted.status_code == 204, deleted.text
    assert after.status_code == 200, after.text
    assert after.json() == answer(
        member.user_id,
        org["id"],
        denied("site:publish"),
        allowed=False,
        org_role="MEMBER",
        epoch=epoch_of(deleted),
    )
    assert denials(store_target, org["id"], member.user_id) == [
        ("site:publish", NO_MATCH, org["id"], details(org["id"]))
    ]


def test_user_without_roles_has_no_permissions(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    beyond = ["organisation:update", "member:update", "role:read", "team:create", "audit:read"]
    asked = ["organisation:read", "member:read", "team:read", *beyond, "site:read"]

    response = check_all(api, member, org["id"], asked, explain=True)

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        granted("organisation:read", "organisation:read", "org_role:MEMBER"),
        granted("member:read", "member:read", "org_role:MEMBER"),
        granted("team:read", "team:read", "org_role:MEMBER"),
        *[denied(p) for p in [*beyond, "site:read"]],
        allowed=False,
        org_role="MEMBER",
        epoch=stored_epoch(api.tenantry, org["id"]),
    )
    assert grants_of(api, member, member.user_id) == MEMBER_GRANTS  # the same three, listed
    assert denials(store_target, org["id"], member.user_id) == sorted(
        (p, NO_MATCH, org["id"], details(org["id"])) for p in [*beyond, "site:read"]
    )


def test_missing_required_permission_denied(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member, _ = member_with_role(api, owner, "Site updater", ["site:read", "site:update"])

    response = check(api, member, org["id"], "site:delete", explain=True)

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        denied("site:delete"),
        allowed=False,
        org_role="MEMBER",
        epoch=stored_epoch(api.tenantry, org["id"]),
    )
    assert_one_denial(store_target, org["id"], member.user_id, "site:delete", NO_MATCH)


# --- every reason, reached through HTTP -----------------------------------------------------
# `not_a_member` is not among them: a token for an organisation is only issued to an active
# member, and membership rows are never deleted (an ended one is `membership_inactive`).


def test_a_logged_out_token_is_answered_token_revoked(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    assert check(api, member, org["id"], "organisation:read").json()["allowed"] is True

    logged_out = api.client.post("/v1/auth/logout", headers=member.auth)
    response = check(api, member, org["id"], "organisation:read")

    assert logged_out.status_code == 204, logged_out.text
    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id, org["id"], denied("organisation:read", "token_revoked"), allowed=False
    )
    assert denials(store_target, org["id"], member.user_id) == [
        ("organisation:read", "token_revoked", org["id"], details(org["id"]))
    ]


def test_logging_out_everywhere_revokes_every_token(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    laptop = api.member_of(org["id"])
    signed_in = api.login(laptop.email, org_id=org["id"])
    assert signed_in.status_code == 200, signed_in.text
    phone = signed_in.json()["access_token"]

    logged_out = api.client.delete("/v1/me/sessions", headers=laptop.auth)
    from_laptop = check(api, laptop, org["id"], "organisation:read")
    from_phone = check(api, phone, org["id"], "member:read")

    assert logged_out.status_code == 204, logged_out.text
    for response, permission in ((from_laptop, "organisation:read"), (from_phone, "member:read")):
        assert response.status_code == 200, response.text
        assert response.json() == answer(
            laptop.user_id, org["id"], denied(permission, "token_revoked"), allowed=False
        )
    assert denials(store_target, org["id"], laptop.user_id) == [
        ("member:read", "token_revoked", org["id"], details(org["id"])),
        ("organisation:read", "token_revoked", org["id"], details(org["id"])),
    ]


def test_a_token_for_no_organisation_is_answered_org_mismatch(
    api: Api, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    user = api.verified_account()  # its token is for the user, not an organisation
    api.add_membership(user, org["id"], OrgRole.MEMBER)

    response = check(api, user, org["id"], "organisation:read")

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        user.user_id, org["id"], denied("organisation:read", "org_mismatch"), allowed=False
    )
    # A token for no organisation is on record outside any.
    assert denials(store_target, None, user.user_id) == [
        ("organisation:read", "org_mismatch", org["id"], details(org["id"]))
    ]
    assert denials(store_target, org["id"], user.user_id) == []


@pytest.mark.parametrize("ended_by", ["owner", "member"])
def test_an_ended_membership_is_answered_membership_inactive(
    api: Api, store_target: StoreTarget, ended_by: str
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    assert check(api, member, org["id"], "organisation:read").json()["allowed"] is True  # cached

    ended = remove_member(api, owner if ended_by == "owner" else member, member.user_id)
    response = check(api, member, org["id"], "organisation:read")

    assert ended.status_code == 204, ended.text
    # The token still verifies: the answer is a decision, not a 401.
    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        denied("organisation:read", "membership_inactive"),
        allowed=False,
        epoch=epoch_of(ended),
    )
    assert denials(store_target, org["id"], member.user_id) == [
        ("organisation:read", "membership_inactive", org["id"], details(org["id"]))
    ]


def test_a_deleted_organisation_is_answered_org_inactive(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    assert check(api, member, org["id"], "organisation:read").json()["allowed"] is True  # cached

    deleted = api.client.delete(f"/v1/organisations/{org['id']}", headers=owner.auth)
    response = check(api, member, org["id"], "organisation:read")

    assert deleted.status_code == 204, deleted.text
    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        denied("organisation:read", "org_inactive"),
        allowed=False,
        epoch=epoch_of(deleted),
    )
    assert denials(store_target, org["id"], member.user_id) == [
        ("organisation:read", "org_inactive", org["id"], details(org["id"]))
    ]


def test_a_team_the_member_is_not_in_is_answered_not_in_team(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member, lead = api.member_of(org["id"]), api.member_of(org["id"])
    web = made_team(api, owner, "Web")
    assert add_to_team(api, owner, web, lead.user_id, "LEAD").status_code == 201

    response = check_all(
        api, member, org["id"], ["team:member:add", "organisation:read"], team_id=web, explain=True
    )

    assert response.status_code == 200, response.text
    assert response.json() == answer(
        member.user_id,
        org["id"],
        denied("team:member:add", "not_in_team"),
        # What the member holds organisation-wide holds in every team.
        granted("organisation:read", "organisation:read", "org_role:MEMBER"),
        allowed=False,
        org_role="MEMBER",
        epoch=stored_epoch(api.tenantry, org["id"]),
    )
    assert denials(store_target, org["id"], member.user_id) == [
        ("team:member:add", "not_in_team", web, details(org["id"], team_id=web))
    ]


def test_a_team_of_no_or_another_organisation_is_answered_team_not_found(
    api: Api, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    owner_b, org_b = api.owner_with_org()
    member = api.member_of(org["id"])
    # The member leads a team of the other organisation: still not a team of this one.
    joined(api, member, org_b["id"])
    theirs = made_team(api, owner_b, "Theirs")
    assert add_to_team(api, owner_b, theirs, member.user_id, "LEAD").status_code == 201

    made_up = check(api, member, org["id"], "team:update", team_id="team_madeup")
    other_org = check(api, member, org["id"], "team:member:add", team_id=theirs)

    for response, permission in ((made_up, "team:update"), (other_org, "team:member:add")):
        assert response.status_code == 200, response.text
        assert response.json() == answer(
            member.user_id,
            org["id"],
            denied(permission, "team_not_found"),
            allowed=False,
            org_role="MEMBER",
            epoch=stored_epoch(api.tenantry, org["id"]),
        )
    assert denials(store_target, org["id"], member.user_id) == sorted(
        [
            (
                "team:update",
                "team_not_found",
                "team_madeup",
                details(org["id"], team_id="team_madeup"),
            ),
            ("team:member:add", "team_not_found", theirs, details(org["id"], team_id=theirs)),
        ]
    )
    assert denials(store_target, org_b["id"], member.user_id) == []


def b64url_json(part: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forgeries(real: str, other_org_id: str) -> dict[str, str]:
    """Tokens that are not tenantry's: the real token's claims signed with another key, the
    real token with its organisation changed, and no token at all."""
    header, payload, signature = real.split(".")
    claims, headers = b64url_json(payload), b64url_json(header)
    stranger = ec.generate_private_key(ec.SECP256R1())
    return {
        "another key": jwt.encode(claims, stranger, algorithm="ES256", headers=headers),
        "tampered": ".".join([header, b64url({**claims, "org_id": other_org_id}), signature]),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", ["another key", "tampered", "garbage"])
def test_a_token_that_is_not_tenantrys_is_401_invalid_token(
    api: Api, store_target: StoreTarget, kind: str
) -> None:
    _, org = api.owner_with_org()
    _, other = api.owner_with_org()
    member = api.member_of(org["id"])

    token = forgeries(member.access_token, other["id"])[kind]
    response = check(api, token, other["id"], "organisation:read")

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    recorded = audit_events_of(store_target, response)
    assert [(e.action, e.outcome, e.reason) for e in recorded] == [
        ("auth.token", Outcome.FAILURE, "invalid_token")
    ]
    for org_id in (org["id"], other["id"]):
        assert denials(store_target, org_id, member.user_id) == []


def test_no_bearer_is_401_missing_token(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()

    response = post_authorize(api, None, {"organisation_id": org["id"], "permission": "a:b"})

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "missing_token"
    assert audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED) == []


# --- the conformance vectors, through HTTP --------------------------------------------------


def test_every_match_vector_through_authorize(api: Api, store_target: StoreTarget) -> None:
    """Every vector (but those a member holds anyway, which `VECTORS` leaves out: the unit
    tests check which): one member holds a role whose permissions are edited to each granted
    set in turn; an empty set is a member with no custom role."""
    owner, org = api.owner_with_org()
    holder, role_id = member_with_role(api, owner, "Vectors", ["vector:placeholder"])
    bare = api.member_of(org["id"])
    wrong: list[tuple[str, Any, Any]] = []
    denied_to: dict[str, set[str]] = {holder.user_id: set(), bare.user_id: set()}

    for granted_set, cases in by_granted_set(VECTORS).items():
        who = bare if not granted_set else holder
        if granted_set:
            edited = patch_role(api, owner, role_id, {"permissions": list(granted_set)})
            assert edited.status_code == 200, edited.text
        for case in cases:
            response = check(api, who, org["id"], case["required"], explain=True)
            assert response.status_code == 200, (case["name"], response.text)
            [decision] = response.json()["decisions"]
            grant = decision["grant"]
            got = (decision["allowed"], grant and (grant["pattern"], grant["path"]))
            path = role_path(role_id, "Vectors")
            expected = (case["allowed"], case["matched"] and (case["matched"], path))
            if got != expected:
                wrong.append((case["name"], expected, got))
            if not decision["allowed"]:
                assert decision["reason"] == NO_MATCH, case["name"]
                denied_to[who.user_id].add(case["required"])

    assert wrong == []
    # Every required permission denied is on record once (the same one again within the
    # minute is counted, not recorded), each as no matching permission.
    for user_id, permissions in denied_to.items():
        recorded = denials(store_target, org["id"], user_id)
        assert sorted(d[0] for d in recorded) == sorted(permissions)
        assert {d[1] for d in recorded} <= {NO_MATCH}


# --- batches and refused questions ----------------------------------------------------------


def test_a_batch_is_allowed_only_if_every_permission_is(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    member, _ = member_with_role(api, owner, "Reader", ["site:read"])
    asked = ["site:read", "site:delete", "organisation:read", "billing:read"]

    response = check_all(api, member, org["id"], asked)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is False
    assert [(d["permission"], d["allowed"], d["reason"]) for d in body["decisions"]] == [
        ("site:read", True, "granted"),
        ("site:delete", False, NO_MATCH),
        ("organisation:read", True, "granted"),
        ("billing:read", False, NO_MATCH),
    ]
    assert denials(store_target, org["id"], member.user_id) == [
        ("billing:read", NO_MATCH, org["id"], details(org["id"])),
        ("site:delete", NO_MATCH, org["id"], details(org["id"])),
    ]


def refused_questions(org_id: str) -> dict[str, dict[str, Any]]:
    many = [f"site:action{i}" for i in range(101)]
    return {
        "101 permissions": {"organisation_id": org_id, "permissions": many},
        "both": {"organisation_id": org_id, "permission": "a:b", "permissions": ["a:b"]},
        "neither": {"organisation_id": org_id},
        "an empty list": {"organisation_id": org_id, "permissions": []},
    }


@pytest.mark.parametrize("question", ["101 permissions", "both", "neither", "an empty list"])
def test_a_malformed_question_is_422(api: Api, store_target: StoreTarget, question: str) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])

    response = post_authorize(api, member.access_token, refused_questions(org["id"])[question])

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert denials(store_target, org["id"], member.user_id) == []


def test_a_hundred_permissions_are_one_question(api: Api, store_target: StoreTarget) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    asked = ["organisation:read"] * 50 + ["member:read"] * 50

    response = check_all(api, member, org["id"], asked)

    assert response.status_code == 200, response.text
    assert response.json()["allowed"] is True
    assert [d["permission"] for d in response.json()["decisions"]] == asked
    assert denials(store_target, org["id"], member.user_id) == []


@pytest.mark.parametrize(
    "asked",
    [["site:*"], ["*:*"], ["site:read", "team:*:add"], ["Site:Read"], ["site"]],
    ids=str,
)
def test_a_pattern_or_a_malformed_permission_is_422_invalid_permission(
    api: Api, store_target: StoreTarget, asked: list[str]
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])

    response = check_all(api, member, org["id"], asked)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_permission"
    assert response.json()["permission"] == asked[-1]  # names the string refused
    assert denials(store_target, org["id"], member.user_id) == []


# --- read-your-writes -----------------------------------------------------------------------


def test_the_epoch_a_write_returned_is_always_reached(api: Api, store_target: StoreTarget) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    role_id = made_role(api, owner, "Publisher", ["site:publish"])
    assert check(api, member, org["id"], "site:publish").json()["allowed"] is False  # cached

    assigned = assign(api, owner, member.user_id, role_id)
    after_assign = check(api, member, org["id"], "site:publish", min_epoch=epoch_of(assigned))
    unassigned = unassign(api, owner, member.user_id, role_id)
    after_unassign = check(api, member, org["id"], "site:publish", min_epoch=epoch_of(unassigned))

    assert assigned.status_code == 200, assigned.text
    assert after_assign.status_code == 200, after_assign.text
    assert (after_assign.json()["allowed"], after_assign.json()["epoch"]) == (
        True,
        epoch_of(assigned),
    )
    assert unassigned.status_code == 204, unassigned.text
    assert after_unassign.status_code == 200, after_unassign.text
    assert (after_unassign.json()["allowed"], after_unassign.json()["epoch"]) == (
        False,
        epoch_of(unassigned),
    )
    # Both denials fell within one minute: the second is counted, not recorded.
    assert denials(store_target, org["id"], member.user_id) == [
        ("site:publish", NO_MATCH, org["id"], details(org["id"]))
    ]


def test_an_epoch_not_reached_is_409_with_the_current_one(
    api: Api, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    current = stored_epoch(api.tenantry, org["id"])

    ahead = check(api, member, org["id"], "site:publish", min_epoch=current + 1)
    reached = check(api, member, org["id"], "organisation:read", min_epoch=current)

    assert ahead.status_code == 409, ahead.text
    assert (ahead.json()["code"], ahead.json()["epoch"]) == ("epoch_not_reached", current)
    assert reached.status_code == 200, reached.text
    assert (reached.json()["allowed"], reached.json()["epoch"]) == (True, current)
    assert denials(store_target, org["id"], member.user_id) == []  # nothing was decided


# --- denials on record, at most once a minute -----------------------------------------------


def test_denials_are_recorded_once_a_minute_with_the_count_left_out(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])

    answers = [check(api, member, org["id"], "site:delete") for _ in range(5)]
    allowed = [check(api, member, org["id"], "organisation:read") for _ in range(3)]
    within_the_minute = denials(store_target, org["id"], member.user_id)
    clock.advance(minutes=2)
    later = check(api, member, org["id"], "site:delete")

    for response in [*answers, later]:
        assert response.status_code == 200, response.text
        assert response.json()["decisions"] == [denied("site:delete")]
    assert all(response.json()["allowed"] for response in allowed)
    assert within_the_minute == [("site:delete", NO_MATCH, org["id"], details(org["id"]))]
    assert denials(store_target, org["id"], member.user_id) == [
        ("site:delete", NO_MATCH, org["id"], details(org["id"])),
        ("site:delete", NO_MATCH, org["id"], details(org["id"], suppressed=4)),
    ]
    assert audit_events(store_target, org_id=org["id"], action="organisation:read") == []
