"""The role hierarchy on an organisation (OWNER > ADMIN > MEMBER) and soft delete with
cascade: who may change or delete it, what a refusal records, and what deletion ends."""

from __future__ import annotations

import pytest

from tenantry.domain.audit import Outcome
from tenantry.domain.model import MembershipStatus, OrgStatus
from tenantry.domain.roles import OrgRole
from tests.access_builders import stored_epoch
from tests.harness import ON_EVERY_STORE, Api, StoreTarget, TestClock, audit_events
from tests.integration.account_checks import log_in_again
from tests.org_builders import patch_org, stored_membership, stored_organisation

# --- the role hierarchy -------------------------------------------------------------------

pytestmark = ON_EVERY_STORE


def test_owner_and_admin_update_name_and_settings_and_settings_merge(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    admin = api.member_of(org["id"], OrgRole.ADMIN)

    by_owner = patch_org(api, owner, org["id"], {"settings": {"theme": "dark", "locale": "en"}})
    by_admin = patch_org(
        api, admin, org["id"], {"name": "Acme Ltd", "settings": {"locale": None, "tz": "UTC"}}
    )

    assert by_owner.status_code == 200, by_owner.text
    assert by_owner.json()["settings"] == {"theme": "dark", "locale": "en"}
    assert by_admin.status_code == 200, by_admin.text
    assert (by_admin.json()["name"], by_admin.json()["settings"]) == (
        "Acme Ltd",
        {"theme": "dark", "tz": "UTC"},
    )
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert (stored.name, stored.settings) == ("Acme Ltd", {"theme": "dark", "tz": "UTC"})
    updates = audit_events(store_target, org_id=org["id"], action="organisation.update")
    assert sorted((e.actor_id, e.outcome, e.details["fields"]) for e in updates) == sorted(
        [
            (owner.user_id, Outcome.SUCCESS, ["settings"]),
            (admin.user_id, Outcome.SUCCESS, ["name", "settings"]),
        ]
    )


def test_a_member_reads_the_organisation_but_may_not_update_it(
    api: Api, store_target: StoreTarget
) -> None:
    _, org = api.owner_with_org()
    member = api.member_of(org["id"])
    before = stored_organisation(api.tenantry, org["id"])

    read = api.client.get(f"/v1/organisations/{org['id']}", headers=member.auth)
    refused = patch_org(api, member, org["id"], {"name": "Hijacked", "settings": {"x": 1}})

    assert read.status_code == 200
    assert read.json()["name"] == "Acme"
    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "organisation:update",
    )
    assert stored_organisation(api.tenantry, org["id"]) == before
    denied = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.action, e.reason, e.resource_id) for e in denied] == [
        (member.user_id, "organisation:update", "missing_permission", org["id"])
    ]
    assert audit_events(store_target, org_id=org["id"], action="organisation.update") == []


@pytest.mark.parametrize("role", [OrgRole.ADMIN, OrgRole.MEMBER])
def test_only_the_owner_may_delete_the_organisation(
    api: Api, store_target: StoreTarget, role: OrgRole
) -> None:
    owner, org = api.owner_with_org()
    caller = api.member_of(org["id"], role)

    refused = api.client.delete(f"/v1/organisations/{org['id']}", headers=caller.auth)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["permission"]) == (
        "permission_denied",
        "organisation:delete",
    )
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None
    assert stored.status is OrgStatus.ACTIVE
    for user_id in (owner.user_id, caller.user_id):
        membership = stored_membership(api.tenantry, org["id"], user_id)
        assert membership is not None
        assert membership.status is MembershipStatus.ACTIVE
    denied = audit_events(store_target, org_id=org["id"], outcome=Outcome.DENIED)
    assert [(e.actor_id, e.action, e.reason) for e in denied] == [
        (caller.user_id, "organisation:delete", "missing_permission")
    ]
    assert audit_events(store_target, org_id=org["id"], action="organisation.delete") == []


# --- soft delete with cascade ---------------------------------------------------------------


def test_deleting_an_organisation_ends_its_members_access_and_refuses_its_tokens(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    owner, org = api.owner_with_org()
    member = api.member_of(org["id"])
    org_path = f"/v1/organisations/{org['id']}"
    epoch_before = stored_epoch(api.tenantry, org["id"])

    deleted = api.client.delete(org_path, headers=owner.auth)

    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    stored = stored_organisation(api.tenantry, org["id"])
    assert stored is not None  # soft delete: the row stays for the audit trail
    assert (stored.status, stored.deleted_at) == (OrgStatus.DELETED, clock.now())
    # No membership row is rewritten: the new authz epoch and the status end them all at once.
    assert stored.authz_epoch == epoch_before + 1
    for account in (owner, member):
        stale = api.client.get(org_path, headers=account.auth)
        assert stale.status_code == 401, stale.text
        assert stale.json()["code"] == "token_revoked"

        switch = api.client.post(
            "/v1/auth/refresh",
            json={"refresh_token": account.refresh_token, "organisation_id": org["id"]},
        )
        assert switch.status_code == 403, switch.text
        assert switch.json()["code"] == "not_a_member"

        relogged = log_in_again(api, account)
        gone = api.client.get(org_path, headers=relogged.auth)
        assert gone.status_code == 404, gone.text
        assert gone.json()["code"] == "organisation_not_found"
        assert api.client.get("/v1/organisations", headers=relogged.auth).json()["items"] == []

        refused_tokens = audit_events(
            store_target, org_id=org["id"], actor_id=account.user_id, action="auth.token"
        )
        assert [(e.outcome, e.reason) for e in refused_tokens] == [
            (Outcome.FAILURE, "organisation_deleted")
        ]
        refused_switch = audit_events(
            store_target, org_id=None, actor_id=account.user_id, action="auth.organisation_token"
        )
        assert [(e.outcome, e.reason, e.details["target_org"]) for e in refused_switch] == [
            (Outcome.DENIED, "not_a_member", org["id"])
        ]

    deletions = audit_events(store_target, org_id=org["id"], action="organisation.delete")
    assert [(e.actor_id, e.outcome, e.details) for e in deletions] == [
        (owner.user_id, Outcome.SUCCESS, {"authz_epoch": epoch_before + 1})
    ]
