"""Seeds 001 flow 3 (authorization) through `TenantryClient.authorize` against a real
`tenantry serve` on SQLite and PostgreSQL: the authorizer cases `test_authorize.py` asks over
raw HTTP, with the access built through the client itself (roles, assignments, teams; the
memberships through the store, as invitations are not the subject), and the conformance
vectors' `match` cases. The answers are compared with the same expected bodies
(`tests.access_builders`), and the denials on record with the same readers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.client import Authorization, Retries, TenantryClient
from tests.access_builders import (
    MEMBER_GRANTS,
    NO_MATCH,
    VECTORS,
    answer,
    assert_one_denial,
    by_granted_set,
    denials,
    denied,
    details,
    granted,
    role_path,
    stored_epoch,
)
from tests.harness import PASSWORD, unique_email
from tests.servers import (
    Organisation,
    Served,
    add_membership,
    an_organisation_with_a_member,
    operator_made_user,
)

FAST = Retries(count=2, backoff=0.01)


@pytest.fixture
def tenantry(server: Served) -> Iterator[TenantryClient]:
    with TenantryClient(server.base, trust_env=False, retries=FAST) as client:
        yield client


@dataclass(frozen=True)
class Member:
    user_id: str
    email: str
    token: str  # for the organisation


def a_member(server: Served, tenantry: TenantryClient, org_id: str) -> Member:
    """A verified user made an active member of `org_id`, signed in to it."""
    email = unique_email("member")
    user_id = operator_made_user(server.tenantry, email)
    add_membership(server.tenantry, org_id, user_id, email)
    return Member(user_id, email, tenantry.login(email, PASSWORD, org_id).access_token)


def a_member_with_role(
    server: Served, tenantry: TenantryClient, org: Organisation, name: str, permissions: list[str]
) -> tuple[Member, str]:
    """A new MEMBER holding a new custom role, both given by the owner; and the role's id."""
    member = a_member(server, tenantry, org.org_id)
    role = tenantry.create_role(org.owner, org.org_id, name, permissions)
    tenantry.assign_role(org.owner, org.org_id, member.user_id, role.id)
    return member, role.id


def as_body(authorization: Authorization) -> dict[str, Any]:
    """The answer as the wire has it (tuples as lists), to compare with the expected bodies
    `test_authorize.py` compares the HTTP answers with."""
    body: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(authorization)))
    return body


# --- seeds 001 flow 3: the authorizer's cases, through the client ---------------------------


def test_permission_resolution_from_roles(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    asked = ["site:read", "site:create", "team:read"]
    member, role_id = a_member_with_role(server, tenantry, org, "Site editor", asked)

    explained = tenantry.authorize(member.token, org.org_id, asked, explain=True)
    plain = tenantry.authorize(member.token, org.org_id, asked)

    editor = role_path(role_id, "Site editor")
    assert as_body(explained) == answer(
        member.user_id,
        org.org_id,
        granted("site:read", "site:read", editor),
        granted("site:create", "site:create", editor),
        # Held twice, from the built-in role and the custom one: the path's text decides.
        granted("team:read", "team:read", "org_role:MEMBER"),
        allowed=True,
        org_role="MEMBER",
        epoch=stored_epoch(server.tenantry, org.org_id),
    )
    assert [(d.permission, d.allowed, d.reason, d.grant) for d in plain.decisions] == [
        (p, True, "granted", None) for p in asked
    ]
    assert denials(server.target, org.org_id, member.user_id) == []


def test_team_membership_resolution(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    web = tenantry.create_team(org.owner, org.org_id, "Web").id
    docs = tenantry.create_team(org.owner, org.org_id, "Docs").id
    reviewer = tenantry.create_role(
        org.owner, org.org_id, "Reviewer", ["site:review"], scope="TEAM"
    )
    tenantry.add_team_member(org.owner, org.org_id, web, org.member_id, "LEAD")
    joined = tenantry.add_team_member(org.owner, org.org_id, docs, org.member_id, reviewer.id)
    asked = ["team:member:add", "site:review"]

    in_web = tenantry.authorize(org.member, org.org_id, asked, team_id=web, explain=True)
    in_docs = tenantry.authorize(org.member, org.org_id, asked, team_id=docs, explain=True)
    org_wide = tenantry.authorize(org.member, org.org_id, asked, explain=True)

    standing: dict[str, Any] = {
        "org_role": "MEMBER",
        "team_ids": sorted([web, docs]),
        "epoch": joined.epoch,
    }
    assert joined.epoch == stored_epoch(server.tenantry, org.org_id)
    assert as_body(in_web) == answer(
        org.member_id,
        org.org_id,
        granted("team:member:add", "team:member:add", f"team:{web}/LEAD", web),
        denied("site:review"),
        allowed=False,
        **standing,
    )
    assert as_body(in_docs) == answer(
        org.member_id,
        org.org_id,
        denied("team:member:add"),
        granted("site:review", "site:review", f"team:{docs}/{reviewer.id}(Reviewer)", docs),
        allowed=False,
        **standing,
    )
    assert as_body(org_wide) == answer(
        org.member_id,
        org.org_id,
        denied("team:member:add"),
        denied("site:review"),
        allowed=False,
        **standing,
    )
    # The first denial of each permission is the team's; the organisation-wide ones after
    # them fall within the minute and are counted, not recorded.
    assert denials(server.target, org.org_id, org.member_id)[:2] == [
        ("site:review", NO_MATCH, web, details(org.org_id, team_id=web)),
        ("team:member:add", NO_MATCH, docs, details(org.org_id, team_id=docs)),
    ]


def test_org_access_validation(server: Served, tenantry: TenantryClient) -> None:
    org_a, org_b = an_organisation_with_a_member(server), an_organisation_with_a_member(server)
    add_membership(server.tenantry, org_b.org_id, org_a.member_id, org_a.member_email)
    in_b = tenantry.login(org_a.member_email, PASSWORD, org_b.org_id).access_token

    crossing = tenantry.authorize(org_a.member, org_b.org_id, "organisation:read")
    own = tenantry.authorize(in_b, org_b.org_id, "organisation:read")

    assert as_body(crossing) == answer(
        org_a.member_id,
        org_b.org_id,
        denied("organisation:read", "org_mismatch"),
        allowed=False,
    )
    assert (own.allowed, own.org_role) == (True, "MEMBER")
    # On record in the token's organisation, naming the one it asked about.
    assert denials(server.target, org_a.org_id, org_a.member_id) == [
        ("organisation:read", "org_mismatch", org_b.org_id, details(org_b.org_id))
    ]
    assert denials(server.target, org_b.org_id, org_a.member_id) == []


def test_wildcard_permission_matching(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    site_admin, site_role = a_member_with_role(server, tenantry, org, "Site admin", ["site:*"])
    super_admin, super_role = a_member_with_role(server, tenantry, org, "Super admin", ["*:*"])
    reader, _ = a_member_with_role(server, tenantry, org, "Reader", ["site:read"])
    asked = ["site:delete", "site:page:edit", "billing:invoice:pdf:download", "sites:read"]

    answers = {
        who.user_id: as_body(tenantry.authorize(who.token, org.org_id, asked, explain=True))
        for who in (site_admin, super_admin, reader)
    }

    site, anything = role_path(site_role, "Site admin"), role_path(super_role, "Super admin")
    assert answers[site_admin.user_id]["decisions"] == [
        granted("site:delete", "site:*", site),
        granted("site:page:edit", "site:*", site),
        denied("billing:invoice:pdf:download"),
        denied("sites:read"),
    ]
    assert answers[super_admin.user_id]["decisions"] == [granted(p, "*:*", anything) for p in asked]
    assert answers[reader.user_id]["decisions"] == [denied(p) for p in asked]
    assert [d[0] for d in denials(server.target, org.org_id, site_admin.user_id)] == [
        "billing:invoice:pdf:download",
        "sites:read",
    ]
    assert denials(server.target, org.org_id, super_admin.user_id) == []
    recorded = denials(server.target, org.org_id, reader.user_id)
    assert sorted(d[0] for d in recorded) == sorted(asked)


def test_inactive_role_filtered_out(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    member, role_id = a_member_with_role(server, tenantry, org, "Publisher", ["site:publish"])
    before = tenantry.authorize(member.token, org.org_id, "site:publish", explain=True)

    deleted = tenantry.delete_role(org.owner, org.org_id, role_id)
    after = tenantry.authorize(
        member.token, org.org_id, "site:publish", min_epoch=deleted.epoch, explain=True
    )

    assert as_body(before)["decisions"] == [
        granted("site:publish", "site:publish", role_path(role_id, "Publisher"))
    ]
    assert before.epoch is not None
    assert before.epoch < deleted.epoch
    assert as_body(after) == answer(
        member.user_id,
        org.org_id,
        denied("site:publish"),
        allowed=False,
        org_role="MEMBER",
        epoch=deleted.epoch,
    )
    assert denials(server.target, org.org_id, member.user_id) == [
        ("site:publish", NO_MATCH, org.org_id, details(org.org_id))
    ]


def test_user_without_roles_has_no_permissions(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    beyond = ["organisation:update", "member:update", "role:read", "team:create", "audit:read"]
    asked = ["organisation:read", "member:read", "team:read", *beyond, "site:read"]

    response = tenantry.authorize(org.member, org.org_id, asked, explain=True)
    listed = tenantry.member_permissions(org.member, org.org_id, org.member_id)

    assert as_body(response) == answer(
        org.member_id,
        org.org_id,
        granted("organisation:read", "organisation:read", "org_role:MEMBER"),
        granted("member:read", "member:read", "org_role:MEMBER"),
        granted("team:read", "team:read", "org_role:MEMBER"),
        *[denied(p) for p in [*beyond, "site:read"]],
        allowed=False,
        org_role="MEMBER",
        epoch=stored_epoch(server.tenantry, org.org_id),
    )
    # The same three, listed.
    assert [(p.permission, p.grant, p.team_id) for p in listed.permissions] == MEMBER_GRANTS
    assert denials(server.target, org.org_id, org.member_id) == sorted(
        (p, NO_MATCH, org.org_id, details(org.org_id)) for p in [*beyond, "site:read"]
    )


def test_missing_required_permission_denied(server: Served, tenantry: TenantryClient) -> None:
    org = an_organisation_with_a_member(server)
    granted_set = ["site:read", "site:update"]
    member, _ = a_member_with_role(server, tenantry, org, "Site updater", granted_set)

    response = tenantry.authorize(member.token, org.org_id, "site:delete", explain=True)

    assert as_body(response) == answer(
        member.user_id,
        org.org_id,
        denied("site:delete"),
        allowed=False,
        org_role="MEMBER",
        epoch=stored_epoch(server.tenantry, org.org_id),
    )
    assert_one_denial(server.target, org.org_id, member.user_id, "site:delete", NO_MATCH)


# --- the conformance vectors, through the client --------------------------------------------


def test_every_match_vector_through_the_client(server: Served, tenantry: TenantryClient) -> None:
    """Every vector `test_authorize.py` runs (those a MEMBER holds anyway are left out): one
    member holds a role whose permissions are edited to each granted set in turn, each check
    asking for the epoch of the edit; an empty set is a member with no custom role."""
    org = an_organisation_with_a_member(server)
    holder, role_id = a_member_with_role(server, tenantry, org, "Vectors", ["vector:placeholder"])
    bare = a_member(server, tenantry, org.org_id)
    path = role_path(role_id, "Vectors")
    wrong: list[tuple[str, Any, Any]] = []
    epoch = stored_epoch(server.tenantry, org.org_id)

    for granted_set, cases in by_granted_set(VECTORS).items():
        who = holder if granted_set else bare
        if granted_set:
            edited = tenantry.update_role(org.owner, org.org_id, role_id, permissions=granted_set)
            assert set(edited.value.permissions) == set(granted_set)
            epoch = edited.epoch
        for case in cases:
            checked = tenantry.authorize(
                who.token, org.org_id, case["required"], min_epoch=epoch, explain=True
            )
            [decision] = checked.decisions
            got = (
                decision.allowed,
                decision.grant and (decision.grant.pattern, decision.grant.path),
            )
            expected = (case["allowed"], case["matched"] and (case["matched"], path))
            if got != expected or checked.epoch != epoch:
                wrong.append((case["name"], expected, got))
            if not decision.allowed:
                assert decision.reason == NO_MATCH, case["name"]

    assert wrong == []
