"""Sign-in over HTTP: credentials, bearer tokens, refresh rotation, sessions and logout."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tenantry.domain.audit import Outcome
from tenantry.sessions.ports import AccessClaims
from tenantry.tokens.signer import CLOCK_SKEW
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    Account,
    Api,
    StoreTarget,
    audit_events,
    bearer,
    unique_email,
    unique_slug,
)
from tests.integration.account_checks import (
    assert_problem,
    audit_events_of,
    audit_of,
    log_in_again,
    me,
    refresh,
    session_ids,
    unverified_account,
)

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [pytest.mark.smtp, ON_EVERY_STORE]


# --- credentials ---------------------------------------------------------------------------


def test_unknown_email_and_wrong_password_get_the_same_answer(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    stranger = unique_email("stranger")

    wrong_password = api.login(account.email, "not the password at all")
    unknown_email = api.login(stranger, PASSWORD)

    for response in (wrong_password, unknown_email):
        assert_problem(response, 401, "invalid_credentials")
    assert wrong_password.headers.get("www-authenticate") == unknown_email.headers.get(
        "www-authenticate"
    )
    assert _without_request_id(wrong_password.json()) == _without_request_id(unknown_email.json())

    wrong = audit_of(store_target, wrong_password, action="auth.login", outcome=Outcome.FAILURE)
    assert (wrong.actor_id, wrong.reason) == (account.user_id, "wrong_password")
    unknown = audit_of(store_target, unknown_email, action="auth.login", outcome=Outcome.FAILURE)
    assert (unknown.actor_id, unknown.reason) == (None, "unknown_email")
    assert unknown.details["email"] == stranger


def test_email_is_matched_without_regard_to_case_or_spaces(api: Api) -> None:
    account = api.verified_account()

    response = api.login(f"  {account.email.upper()} ", PASSWORD)

    assert response.status_code == 200, response.text


def test_an_unverified_email_cannot_log_in(api: Api, store_target: StoreTarget) -> None:
    email, user_id = unverified_account(api)

    response = api.login(email, PASSWORD)

    assert_problem(response, 403, "email_not_verified")
    assert "access_token" not in response.text
    event = audit_of(store_target, response, action="auth.login", outcome=Outcome.FAILURE)
    assert (event.actor_id, event.reason) == (user_id, "email_not_verified")


# --- bearer tokens -------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/v1/me", None),
    ("GET", "/v1/me/sessions", None),
    ("DELETE", "/v1/me/sessions", None),
    ("DELETE", "/v1/me/sessions/ses_0000000000", None),
    ("POST", "/v1/me/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ("POST", "/v1/auth/logout", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_endpoints_refuse_a_request_without_a_token(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = api.client.request(method, path, json=body)

    assert_problem(response, 401, "missing_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_endpoints_refuse_a_garbage_token(
    api: Api, store_target: StoreTarget, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = api.client.request(method, path, json=body, headers=bearer("not-a-jwt"))

    assert_problem(response, 401, "invalid_token")
    event = audit_of(store_target, response, action="auth.token", outcome=Outcome.FAILURE)
    assert (event.actor_id, event.reason) == (None, "invalid_token")


@pytest.mark.parametrize("part", ["signature", "payload"])
def test_a_tampered_token_is_refused(api: Api, store_target: StoreTarget, part: str) -> None:
    account = api.verified_account()
    header, payload, signature = account.access_token.split(".")
    if part == "signature":
        signature = _flip_char(signature, len(signature) // 2)
    else:
        payload = _flip_char(payload, len(payload) // 2)

    response = me(api, f"{header}.{payload}.{signature}")

    assert_problem(response, 401, "invalid_token")
    assert audit_of(store_target, response, action="auth.token").outcome is Outcome.FAILURE
    assert me(api, account.access_token).status_code == 200


def test_an_access_token_expires_after_its_lifetime(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    lifetime = api.tenantry.settings.access_token_ttl_seconds
    leeway = CLOCK_SKEW.total_seconds()

    clock.advance(seconds=lifetime + leeway - 1)
    assert me(api, account.access_token).status_code == 200
    clock.advance(seconds=2)
    response = me(api, account.access_token)

    assert_problem(response, 401, "token_expired")
    assert audit_of(store_target, response, action="auth.token").reason == "token_expired"
    renewed = refresh(api, account.refresh_token)
    assert renewed.status_code == 200, renewed.text
    assert me(api, renewed.json()["access_token"]).status_code == 200


# --- refresh rotation ----------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(api: Api, store_target: StoreTarget) -> None:
    account = api.verified_account()

    first = refresh(api, account.refresh_token)
    second = refresh(api, first.json()["refresh_token"])

    assert first.status_code == second.status_code == 200, (first.text, second.text)
    tokens = {account.refresh_token, first.json()["refresh_token"], second.json()["refresh_token"]}
    assert len(tokens) == 3
    assert me(api, second.json()["access_token"]).json()["id"] == account.user_id
    event = audit_of(store_target, second, action="auth.refresh", actor_id=account.user_id)
    assert event.outcome is Outcome.SUCCESS


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
    api: Api, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    rotated = refresh(api, account.refresh_token).json()
    newest = refresh(api, rotated["refresh_token"]).json()

    replay = refresh(api, account.refresh_token)

    assert_problem(replay, 401, "refresh_token_reused")
    event = audit_of(store_target, replay, action="auth.refresh", actor_id=account.user_id)
    assert (event.outcome, event.reason) == (Outcome.DENIED, "refresh_token_reuse")
    assert_problem(refresh(api, newest["refresh_token"]), 401, "session_ended")
    assert_problem(me(api, newest["access_token"]), 401, "token_revoked")
    assert_problem(me(api, account.access_token), 401, "token_revoked")


def test_a_session_ends_when_its_refresh_token_lifetime_is_over(
    api: Api, clock: TestClock, store_target: StoreTarget
) -> None:
    account = api.verified_account()

    clock.advance(seconds=api.tenantry.settings.refresh_token_ttl_seconds + 1)
    response = refresh(api, account.refresh_token)

    assert_problem(response, 401, "session_ended")
    event = audit_of(store_target, response, action="auth.refresh", actor_id=account.user_id)
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "session_ended")


def test_an_unknown_refresh_token_is_refused(api: Api, store_target: StoreTarget) -> None:
    response = refresh(api, "rt_made-up")

    assert_problem(response, 401, "invalid_refresh_token")
    event = audit_of(store_target, response, action="auth.refresh")
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "unknown_refresh_token")


# --- sessions ------------------------------------------------------------------------------


def test_two_logins_are_two_sessions(api: Api) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)

    seen_from_laptop = session_ids(api, laptop)
    seen_from_phone = session_ids(api, phone)

    assert len(seen_from_laptop) == 2
    assert seen_from_laptop.keys() == seen_from_phone.keys()
    assert sorted(seen_from_laptop.values()) == [False, True]
    assert all(seen_from_laptop[sid] != seen_from_phone[sid] for sid in seen_from_laptop)


def test_revoking_another_session_ends_only_that_one(api: Api, store_target: StoreTarget) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)
    [phone_session] = [sid for sid, current in session_ids(api, phone).items() if current]

    response = api.client.delete(f"/v1/me/sessions/{phone_session}", headers=laptop.auth)

    assert response.status_code == 204, response.text
    event = audit_of(store_target, response, action="auth.session_revoke", actor_id=laptop.user_id)
    assert event.details["session_id"] == phone_session
    assert_problem(me(api, phone.access_token), 401, "token_revoked")
    assert_problem(refresh(api, phone.refresh_token), 401, "session_ended")
    assert me(api, laptop.access_token).status_code == 200
    assert list(session_ids(api, laptop).values()) == [True]


def test_someone_elses_session_cannot_be_revoked(api: Api, store_target: StoreTarget) -> None:
    mallory, victim = api.verified_account(), api.verified_account()
    [victim_session] = session_ids(api, victim)

    response = api.client.delete(f"/v1/me/sessions/{victim_session}", headers=mallory.auth)

    assert_problem(response, 404, "session_not_found")
    event = audit_of(store_target, response, action="auth.session_revoke", actor_id=mallory.user_id)
    assert (event.outcome, event.reason) == (Outcome.DENIED, "session_not_found")
    assert me(api, victim.access_token).status_code == 200


def test_logout_everywhere_ends_every_session(api: Api, store_target: StoreTarget) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)

    response = api.client.delete("/v1/me/sessions", headers=phone.auth)

    assert response.status_code == 204, response.text
    event = audit_of(store_target, response, action="auth.logout_everywhere")
    assert (event.actor_id, event.details["sessions"]) == (laptop.user_id, 2)
    for device in (laptop, phone):
        assert_problem(me(api, device.access_token), 401, "token_revoked")
        assert_problem(refresh(api, device.refresh_token), 401, "session_ended")
    assert api.login(laptop.email).status_code == 200


def test_logout_ends_the_session_but_not_the_others(api: Api, store_target: StoreTarget) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)

    response = api.client.post("/v1/auth/logout", headers=phone.auth)

    assert response.status_code == 204, response.text
    assert audit_of(store_target, response, action="auth.logout").actor_id == laptop.user_id
    revoked = me(api, phone.access_token)
    assert_problem(revoked, 401, "token_revoked")
    event = audit_of(store_target, revoked, action="auth.token", actor_id=laptop.user_id)
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "session_ended")
    assert me(api, laptop.access_token).status_code == 200


def test_logout_with_another_of_my_refresh_tokens_ends_both_sessions(
    api: Api, store_target: StoreTarget
) -> None:
    laptop = api.verified_account()
    phone = log_in_again(api, laptop)
    sessions = session_ids(api, phone)  # id -> whether it is the phone's

    response = api.client.post(
        "/v1/auth/logout", json={"refresh_token": laptop.refresh_token}, headers=phone.auth
    )

    assert response.status_code == 204, response.text
    for device in (laptop, phone):
        assert_problem(me(api, device.access_token), 401, "token_revoked")
        assert_problem(refresh(api, device.refresh_token), 401, "session_ended")
    logouts = audit_events_of(store_target, response, action="auth.logout")
    assert sorted((e.actor_id, e.outcome, e.resource_id) for e in logouts) == sorted(
        (laptop.user_id, Outcome.SUCCESS, session_id) for session_id in sessions
    )
    assert {e.details["session_id"] for e in logouts} == set(sessions)


def test_logout_with_someone_elses_refresh_token_ends_only_my_session(
    api: Api, store_target: StoreTarget
) -> None:
    mallory, victim = api.verified_account(), api.verified_account()
    [mallory_session] = session_ids(api, mallory)
    [victim_session] = session_ids(api, victim)

    response = api.client.post(
        "/v1/auth/logout", json={"refresh_token": victim.refresh_token}, headers=mallory.auth
    )

    assert response.status_code == 204, response.text
    assert_problem(me(api, mallory.access_token), 401, "token_revoked")
    assert me(api, victim.access_token).status_code == 200
    assert session_ids(api, victim) == {victim_session: True}
    assert refresh(api, victim.refresh_token).status_code == 200
    logouts = audit_events_of(store_target, response, action="auth.logout")
    assert sorted((e.outcome.value, e.actor_id, e.resource_id, e.reason) for e in logouts) == [
        ("DENIED", mallory.user_id, victim_session, "not_your_session"),
        ("SUCCESS", mallory.user_id, mallory_session, None),
    ]
    victims_logouts = audit_events(
        store_target, org_id=None, actor_id=victim.user_id, action="auth.logout"
    )
    assert victims_logouts == []


def _flip_char(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def _without_request_id(body: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in body.items() if key != "request_id"}


def test_a_token_naming_another_users_session_is_refused(
    api: Api, store_target: StoreTarget
) -> None:
    """A validly signed token is only as good as its session: the session must be the
    subject's own, or anyone who learns a session id could borrow its liveness."""
    alice, mallory = api.verified_account(), api.verified_account()
    alice_session = me_sessions(api, alice)[0]["id"]
    now = api.tenantry.clock.now()
    borrowed = api.tenantry.signer.issue_access_token(
        AccessClaims(
            user_id=mallory.user_id,
            session_id=alice_session,
            token_id="at_borrowed",
            issued_at=now,
            expires_at=now + timedelta(minutes=5),
        )
    )

    refused = api.client.get("/v1/me", headers=bearer(borrowed))

    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
    assert api.client.get("/v1/me", headers=alice.auth).status_code == 200  # hers still works
    events = audit_events(store_target, org_id=None, actor_id=mallory.user_id, action="auth.token")
    assert [(e.outcome, e.reason) for e in events] == [(Outcome.FAILURE, "session_ended")]


def me_sessions(api: Api, account: Account) -> list[dict[str, Any]]:
    response = api.client.get("/v1/me/sessions", headers=account.auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_token_for_the_organisation_its_session_has_left_is_refused(
    api: Api, store_target: StoreTarget
) -> None:
    owner, first = api.owner_with_org()
    token_for_first = owner.access_token
    second = api.client.post(
        "/v1/organisations",
        json={"name": "Second", "slug": unique_slug("second")},
        headers=owner.auth,
    )
    assert second.status_code == 201, second.text
    api.switch_org(owner, second.json()["id"])  # the session moves to the second organisation

    stale = api.client.get(f"/v1/organisations/{first['id']}", headers=bearer(token_for_first))
    current = api.client.get(f"/v1/organisations/{second.json()['id']}", headers=owner.auth)

    assert (stale.status_code, stale.json()["code"]) == (401, "token_revoked")
    assert current.status_code == 200, current.text
    refused = audit_events(
        store_target, org_id=first["id"], actor_id=owner.user_id, action="auth.token"
    )
    assert [(e.outcome, e.reason) for e in refused] == [(Outcome.FAILURE, "session_switched")]
