"""Organisations over HTTP: the identity handshake of seeds/003 scenario 1 and the slug rules
(valid, malformed, reserved, injection attempts, taken). Each test checks the response, the
stored state and the audit trail, on SQLite and on PostgreSQL with forced row-level security."""

from __future__ import annotations

import secrets
import warnings
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from tenantry.domain.model import MembershipStatus, OrgStatus
from tenantry.domain.roles import OrgRole
from tests.harness import (
    ON_EVERY_STORE,
    Api,
    StoreTarget,
    TestClock,
    actions,
    audit_events,
    bearer,
    unique_email,
    unique_slug,
)
from tests.org_builders import (
    organisations_created_by,
    register_org,
    row_counts,
    stored_membership,
    stored_organisation,
)

pytestmark = ON_EVERY_STORE


def verified_independently(api: Api, access_token: str) -> dict[str, Any]:
    """Check the token with joserfc against the published discovery document and JWKS."""
    discovery = api.client.get("/.well-known/openid-configuration").json()
    jwks = api.client.get("/.well-known/jwks.json").json()
    with warnings.catch_warnings():
        # RFC 9864 prefers "Ed25519" to the fully specified "EdDSA"; both name our key type.
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        token = jose_jwt.decode(
            access_token,
            KeySet.import_key_set(jwks),
            algorithms=discovery["id_token_signing_alg_values_supported"],
        )
    jose_jwt.JWTClaimsRegistry(
        now=int(api.tenantry.clock.now().timestamp()),
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": api.tenantry.settings.audience},
        sub={"essential": True},
        exp={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


# --- seeds/003 scenario 1: the identity handshake ---------------------------------------


def test_signup_to_org_token_the_token_carries_the_org_and_owner_role(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    email, slug = unique_email("founder"), unique_slug("clinic")
    signed_up = api.signup(email, name="Fiona Founder")
    assert signed_up.status_code == 202, signed_up.text
    verify_token = api.mailbox.last_link_token(email, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": verify_token}).status_code == 200
    login = api.login(email)
    assert login.status_code == 200, login.text
    user_id = api.client.get("/v1/me", headers=bearer(login.json()["access_token"])).json()["id"]
    assert login.json()["organisation_id"] is None
    assert "org_id" not in verified_independently(api, login.json()["access_token"])

    created = api.client.post(
        "/v1/organisations",
        json={"name": "Harbour Clinic", "slug": slug},
        headers=bearer(login.json()["access_token"]),
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["id"].startswith("org_")
    assert datetime.fromisoformat(org["created_at"]) == clock.now()
    assert {k: v for k, v in org.items() if k not in ("id", "created_at")} == {
        "slug": slug,
        "name": "Harbour Clinic",
        "status": "ACTIVE",
        "settings": {},
        "provisioning_step": None,
        "provisioning_error": None,
        "provisioning_workflow_id": None,  # provisioned inline: no workflow
        "provisioning_run_id": None,
    }

    refreshed = api.client.post(
        "/v1/auth/refresh",
        json={"refresh_token": login.json()["refresh_token"], "organisation_id": org["id"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["organisation_id"] == org["id"]
    claims = verified_independently(api, refreshed.json()["access_token"])
    assert (claims["sub"], claims["org_id"], claims["org_role"]) == (user_id, org["id"], "OWNER")

    org_token = bearer(refreshed.json()["access_token"])
    assert api.client.get(f"/v1/organisations/{org['id']}", headers=org_token).json() == org
    mine = api.client.get("/v1/organisations", headers=org_token)
    assert mine.status_code == 200
    assert [(o["id"], o["slug"], o["org_role"]) for o in mine.json()["items"]] == [
        (org["id"], slug, "OWNER")
    ]

    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert (stored.slug, stored.status, stored.created_by) == (slug, OrgStatus.ACTIVE, user_id)
    membership = stored_membership(api.tenantry, org["id"], user_id)
    assert membership is not None
    assert (membership.org_role, membership.status) == (OrgRole.OWNER, MembershipStatus.ACTIVE)

    trail = audit_events(store_target, org_id=org["id"], actor_id=user_id)
    assert Counter(actions(trail)) == Counter(
        [
            ("organisation.create", "SUCCESS"),
            ("organisation.provisioned", "SUCCESS"),
            ("auth.refresh", "SUCCESS"),
        ]
    )
    assert {e.resource_id for e in trail if e.action.startswith("organisation.")} == {org["id"]}


# --- slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_slug",
    [
        lambda: "z" + secrets.token_hex(1),  # 3 characters, the shortest allowed
        lambda: "l" * 54 + "-" + secrets.token_hex(4),  # 63 characters, the longest allowed
        lambda: unique_slug("acme-corp"),
        lambda: "9" + secrets.token_hex(4),
    ],
    ids=["3-chars", "63-chars", "inner-hyphens", "leading-digit"],
)
def test_a_valid_slug_registers_the_organisation(
    api: Api, store_target: StoreTarget, make_slug: Any
) -> None:
    slug = make_slug()
    owner = api.verified_account()

    created = register_org(api, owner, slug)

    assert created.status_code == 201, created.text
    assert created.json()["slug"] == slug
    stored = stored_organisation(api.tenantry, created.json()["id"])
    assert stored is not None
    assert stored.slug == slug
    assert actions(audit_events(store_target, org_id=stored.id, action="organisation.create")) == [
        ("organisation.create", "SUCCESS")
    ]


REFUSED_SLUGS = {
    "too-short": ("ab", "invalid_slug"),
    "too-long": ("a" * 64, "invalid_slug"),
    "upper-case": ("Acme", "invalid_slug"),
    "leading-hyphen": ("-acme", "invalid_slug"),
    "trailing-hyphen": ("acme-", "invalid_slug"),
    "double-hyphen": ("ac--me", "invalid_slug"),
    "space": ("acme corp", "invalid_slug"),
    "empty": ("", "validation_failed"),
    "reserved-admin": ("admin", "reserved_slug"),
    "reserved-api": ("api", "reserved_slug"),
    "reserved-www": ("www", "reserved_slug"),
    "reserved-console": ("console", "reserved_slug"),
    "sql-injection": ("acme'; DROP TABLE organisations;--", "invalid_slug"),
    "path-traversal": ("../etc", "invalid_slug"),
    "percent-encoded-nul": ("acme%00", "invalid_slug"),
    "nul-byte": ("acme\x00", "validation_failed"),  # refused by the schema for every field
    "trailing-newline": ("acme\n", "invalid_slug"),
    "cyrillic-a": ("\u0430cme", "invalid_slug"),
    "fullwidth": ("\uff41\uff43\uff4d\uff45", "invalid_slug"),
    "non-breaking-hyphen": ("acme\u2011corp", "invalid_slug"),
    "accented": ("acm\u00e9", "invalid_slug"),
}


@pytest.mark.parametrize(("slug", "code"), REFUSED_SLUGS.values(), ids=REFUSED_SLUGS.keys())
def test_a_refused_slug_is_422_and_creates_nothing(
    api: Api, store_target: StoreTarget, slug: str, code: str
) -> None:
    owner = api.verified_account()
    before = row_counts(store_target)

    refused = register_org(api, owner, slug)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == code
    assert row_counts(store_target) == before
    assert api.client.get("/v1/organisations", headers=owner.auth).json()["items"] == []
    assert organisations_created_by(store_target, owner.user_id) == []


def test_a_taken_slug_is_409_and_leaves_no_second_membership(
    api: Api, store_target: StoreTarget
) -> None:
    first_owner, org = api.owner_with_org()
    latecomer = api.verified_account()
    before = row_counts(store_target)

    refused = register_org(api, latecomer, org["slug"], name="Copycat")

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "slug_taken"
    assert row_counts(store_target) == before
    assert stored_membership(api.tenantry, org["id"], latecomer.user_id) is None
    assert api.client.get("/v1/organisations", headers=latecomer.auth).json()["items"] == []
    members = api.client.get(f"/v1/organisations/{org['id']}/members", headers=first_owner.auth)
    assert [m["user_id"] for m in members.json()["items"]] == [first_owner.user_id]
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert stored.name == "Acme"
    assert organisations_created_by(store_target, latecomer.user_id) == []
