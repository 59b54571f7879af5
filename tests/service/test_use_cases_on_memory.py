"""The use cases behave on the in-memory store as on SQL: the same HTTP answers, the same
audit trail, conflicts surfacing at commit as the use case's own errors."""

from __future__ import annotations

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import AuditEvent, Outcome
from tests.harness import Api, unique_slug


def events(api: Api, **query: object) -> list[AuditEvent]:
    with api.tenantry.store.unit_of_work() as uow:
        return uow.audit.find(AuditQuery(limit=1000, **query))  # type: ignore[arg-type]


def test_sign_up_verify_log_in_and_register_an_organisation(memory_api: Api) -> None:
    owner, org = memory_api.owner_with_org(unique_slug("mem"))

    me = memory_api.client.get("/v1/me", headers=owner.auth)
    members = memory_api.client.get(f"/v1/organisations/{org['id']}/members", headers=owner.auth)

    assert org["status"] == "ACTIVE"
    assert (me.status_code, me.json()["org_role"]) == (200, "OWNER")
    assert [(m["user_id"], m["email"]) for m in members.json()["items"]] == [
        (owner.user_id, owner.email)
    ]
    assert ("organisation.create", Outcome.SUCCESS) in [
        (e.action, e.outcome) for e in events(memory_api, org_id=org["id"])
    ]


def test_a_reused_refresh_token_revokes_the_session_at_commit(memory_api: Api) -> None:
    account = memory_api.verified_account()
    first = memory_api.client.post(
        "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    reused = memory_api.client.post(
        "/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    rotated = memory_api.client.post(
        "/v1/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
    )

    assert first.status_code == 200, first.text
    assert (reused.status_code, reused.json()["code"]) == (401, "refresh_token_reused")
    assert (rotated.status_code, rotated.json()["code"]) == (401, "session_ended")
    refreshes = events(memory_api, org_id=None, actor_id=account.user_id, action="auth.refresh")
    # The clock stands still, so the events' order is not theirs to keep: compare as sets.
    assert {(e.outcome, e.reason) for e in refreshes} == {
        (Outcome.SUCCESS, None),
        (Outcome.DENIED, "refresh_token_reuse"),
        (Outcome.FAILURE, "session_ended"),
    }
    assert len(refreshes) == 3


def test_logging_out_everywhere_ends_every_session_by_one_epoch(memory_api: Api) -> None:
    laptop = memory_api.verified_account()
    phone_tokens = memory_api.login(laptop.email).json()

    ended = memory_api.client.delete("/v1/me/sessions", headers=laptop.auth)

    assert ended.status_code == 204, ended.text
    for token in (laptop.access_token, phone_tokens["access_token"]):
        me = memory_api.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.status_code, me.json()["code"]) == (401, "token_revoked")
    with memory_api.tenantry.store.unit_of_work() as uow:
        user = uow.users.get(laptop.user_id)
    assert user is not None
    assert user.session_epoch == 1
    [logout] = events(memory_api, org_id=None, action="auth.logout_everywhere")
    assert (logout.actor_id, logout.details["sessions"]) == (laptop.user_id, 2)


def test_a_taken_slug_is_refused_at_commit_and_nothing_is_left(memory_api: Api) -> None:
    owner, org = memory_api.owner_with_org(unique_slug("mem"))

    again = memory_api.client.post(
        "/v1/organisations", json={"name": "Other", "slug": org["slug"]}, headers=owner.auth
    )

    assert (again.status_code, again.json()["code"]) == (409, "slug_taken")
    mine = memory_api.client.get("/v1/organisations", headers=owner.auth)
    assert [o["id"] for o in mine.json()["items"]] == [org["id"]]
    created = [
        e
        for e in events(memory_api, org_id=None, actor_id=owner.user_id)
        if e.action == "organisation.create"
    ] + events(memory_api, org_id=org["id"], action="organisation.create")
    assert [(e.org_id, e.outcome) for e in created] == [(org["id"], Outcome.SUCCESS)]
