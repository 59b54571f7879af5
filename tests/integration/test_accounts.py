"""Accounts over HTTP: the whole journey from sign-up to logout, email verification, what
responses never reveal, how bad input is refused, and rehashing on login."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tenantry.domain.audit import Outcome
from tenantry.domain.model import User
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    Api,
    Mailbox,
    StoreTarget,
    bearer,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.integration.account_checks import (
    PROBLEM_JSON,
    assert_problem,
    audit_events_of,
    audit_of,
    audit_trail,
    me,
    refresh,
    unverified_account,
)
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = [ON_EVERY_STORE, pytest.mark.smtp]


@pytest.fixture(autouse=True)
def _queued_mail_is_delivered(mailbox: Mailbox) -> Iterator[None]:
    """Mail a test queued and never read is sent when it ends: on the shared PostgreSQL, a
    later test would otherwise receive it."""
    yield
    mailbox.deliver()


def test_signup_verify_login_refresh_logout(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    email = unique_email("journey")

    signed_up = api.signup(email, name="  Ada   Lovelace ")
    assert (signed_up.status_code, signed_up.json()) == (202, {"status": "accepted"})
    stored = stored_user(api, email)
    assert stored is not None
    assert (stored.name, stored.is_verified, stored.id[:4]) == ("Ada Lovelace", False, "usr_")
    user = {"id": stored.id}

    [welcome] = mailbox.messages_to(email)
    assert welcome["Subject"] == "Verify your email address"
    token = mailbox.last_link_token(email, "/verify-email")
    verified = api.client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified"] is True

    logged_in = api.login(email)
    assert logged_in.status_code == 200, logged_in.text
    tokens = logged_in.json()
    lifetime = api.tenantry.settings.access_token_ttl_seconds
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", lifetime)

    profile = me(api, tokens["access_token"])
    assert profile.status_code == 200, profile.text
    assert (profile.json()["id"], profile.json()["email"]) == (user["id"], email)

    renewed = refresh(api, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert me(api, fresh["access_token"]).json()["id"] == user["id"]

    logged_out = api.client.post("/v1/auth/logout", headers=bearer(fresh["access_token"]))
    assert logged_out.status_code == 204, logged_out.text

    assert_problem(me(api, fresh["access_token"]), 401, "token_revoked")
    assert_problem(me(api, tokens["access_token"]), 401, "token_revoked")
    assert_problem(refresh(api, fresh["refresh_token"]), 401, "session_ended")
    assert audit_trail(store_target, user["id"]) == sorted(
        [
            ("user.signup", "SUCCESS"),
            ("user.verify_email", "SUCCESS"),
            ("auth.login", "SUCCESS"),
            ("auth.refresh", "SUCCESS"),
            ("auth.logout", "SUCCESS"),
            ("auth.token", "FAILURE"),
            ("auth.token", "FAILURE"),
            ("auth.refresh", "FAILURE"),
        ]
    )


def test_a_verification_link_works_once(
    api: Api, mailbox: Mailbox, store_target: StoreTarget
) -> None:
    email, user_id = unverified_account(api)
    token = mailbox.last_link_token(email, "/verify-email")
    assert api.client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200

    again = api.client.post("/v1/auth/verify-email", json={"token": token})

    assert_problem(again, 410, "token_used")
    refused = audit_of(store_target, again, action="user.verify_email")
    assert (refused.outcome, refused.reason, refused.actor_id) == (
        Outcome.FAILURE,
        "token_used",
        user_id,
    )
    verified = stored_user(api, email)
    assert verified is not None
    assert verified.is_verified


def test_a_verification_link_expires(
    api: Api, mailbox: Mailbox, clock: TestClock, store_target: StoreTarget
) -> None:
    email, user_id = unverified_account(api)
    token = mailbox.last_link_token(email, "/verify-email")

    clock.advance(seconds=api.tenantry.settings.email_token_ttl_seconds + 1)
    response = api.client.post("/v1/auth/verify-email", json={"token": token})

    assert_problem(response, 410, "token_expired")
    event = audit_of(store_target, response, action="user.verify_email", actor_id=user_id)
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "token_expired")
    assert_problem(api.login(email), 403, "email_not_verified")


def test_a_made_up_verification_token_is_refused(api: Api, store_target: StoreTarget) -> None:
    response = api.client.post("/v1/auth/verify-email", json={"token": "made-up"})

    assert_problem(response, 422, "invalid_token")
    event = audit_of(store_target, response, action="user.verify_email")
    assert (event.outcome, event.reason) == (Outcome.FAILURE, "invalid_token")


EXISTING = "Someone tried to sign up with your email address"


@pytest.mark.parametrize(
    "spelling",
    [str.upper, lambda email: f"  {email} ", lambda email: "\uff21" + email[1:]],
    ids=["upper-case", "spaces", "full-width first letter"],
)
def test_signing_up_with_a_taken_email_answers_as_for_a_new_one_and_tells_the_owner(
    api: Api, mailbox: Mailbox, store_target: StoreTarget, spelling: Any
) -> None:
    account = api.verified_account(unique_email("a-taken"))
    new = api.signup(unique_email("a-new"), password="another good password", name="Someone")

    taken = api.signup(spelling(account.email), password="another good password", name="Imposter")

    assert (taken.status_code, taken.content) == (new.status_code, new.content)
    assert taken.headers["content-type"] == new.headers["content-type"]
    assert (taken.status_code, taken.json()) == (202, {"status": "accepted"})
    kept = stored_user(api, account.email)
    assert kept is not None
    assert (kept.id, kept.name, kept.password_hash) == (
        account.user_id,
        "Test User",
        _stored_password_hash(api, account.email),
    )
    assert api.login(account.email).status_code == 200  # the password did not change
    [notice] = [m for m in mailbox.messages_to(account.email) if m["Subject"] == EXISTING]
    body = notice.get_body(preferencelist=("plain",))
    assert body is not None
    assert "you already have one" in body.get_content()
    token = mailbox.last_link_token(account.email, "/reset-password")
    reset = api.client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "a new passphrase"}
    )
    assert reset.status_code == 204, reset.text
    event = audit_of(store_target, taken, action="user.signup")
    assert (event.outcome, event.reason, event.actor_id, event.resource_id) == (
        Outcome.FAILURE,
        "email_taken",
        None,
        account.user_id,
    )


def test_a_taken_email_costs_the_time_of_a_new_one(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    # Hashing at real strength takes most of a sign-up; a taken email that skipped it would
    # answer several times faster.
    settings = test_settings(store_target, tmp_path, argon2_memory_kib=65_536, argon2_time_cost=2)
    app = build_tenantry(settings, clock, smtp_server)
    try:
        api = Api(app, Mailbox(app, smtp_server))
        taken = unique_email("timed")
        assert api.signup(taken).status_code == 202

        new_times = [_timed(lambda: api.signup(unique_email("timed"))) for _ in range(2)]
        taken_times = [_timed(lambda: api.signup(taken)) for _ in range(2)]

        assert min(taken_times) > 0.5 * min(new_times), (taken_times, new_times)
    finally:
        app.close()


def _timed(request: Any) -> float:
    started = time.perf_counter()
    assert request().status_code == 202
    return time.perf_counter() - started


def test_an_operator_may_choose_explicit_sign_up_answers(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    settings = test_settings(store_target, tmp_path, signup_reveals_existing=True)
    app = build_tenantry(settings, clock, smtp_server)
    try:
        api = Api(app, Mailbox(app, smtp_server))
        email = unique_email("explicit")

        created = api.signup(email, name="Ada")
        again = api.signup(email.upper(), password="another good password", name="Imposter")

        assert created.status_code == 201, created.text
        user = created.json()
        assert (user["email"], user["name"], user["email_verified"]) == (email, "Ada", False)
        assert user["id"].startswith("usr_")
        assert_problem(again, 409, "email_taken")
        kept = stored_user(api, email)
        assert kept is not None
        assert (kept.id, kept.name) == (user["id"], "Ada")
        assert [m["Subject"] for m in api.mailbox.messages_to(email)] == [
            "Verify your email address"
        ]
        assert audit_events_of(store_target, again) == []  # nothing happened to record
    finally:
        app.close()


# --- what responses never reveal -----------------------------------------------------------


def test_no_response_reveals_the_password_or_its_hash(api: Api) -> None:
    email = unique_email("secret")
    responses = [api.signup(email)]
    token = api.mailbox.last_link_token(email, "/verify-email")
    responses.append(api.client.post("/v1/auth/verify-email", json={"token": token}))
    responses.append(login := api.login(email))
    auth = bearer(login.json()["access_token"])
    responses += [
        api.client.get("/v1/me", headers=auth),
        api.client.get("/v1/me/sessions", headers=auth),
        refresh(api, login.json()["refresh_token"]),
        api.login(email, "wrong password, but close"),
        api.signup(email),
        api.client.post("/v1/auth/signup", json={"email": "nope", "password": PASSWORD}),
        api.client.post("/v1/me/password", json={"current_password": PASSWORD}, headers=auth),
    ]
    stored_hash = _stored_password_hash(api, email)

    for response in responses:
        assert PASSWORD not in response.text, response.request.url
        assert "$argon2" not in response.text, response.request.url
        assert stored_hash not in response.text, response.request.url
        assert "password_hash" not in response.text, response.request.url


# --- malformed input -----------------------------------------------------------------------


MALFORMED_JSON = {
    "truncated": b'{"email": "a@b.c", ',
    "not utf-8": b'{"email": "a\xff@b.c", "password": "x"}',
    "nested too deep": b"[" * 5000 + b"]" * 5000,
    "number too long": b'{"email": "a@b.c", "password": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json_is_a_400(api: Api, body: bytes) -> None:
    response = api.client.post(
        "/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed_json")


def test_an_unknown_field_is_named(api: Api) -> None:
    response = api.client.post(
        "/v1/auth/signup",
        json={"email": unique_email(), "password": PASSWORD, "name": "N", "is_admin": True},
    )

    body = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["is_admin"]
    assert "is_admin" in body["detail"]


def test_a_missing_field_is_named(api: Api) -> None:
    response = api.client.post("/v1/auth/login", json={"email": unique_email()})

    body = assert_problem(response, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == ["password"]


def test_a_body_that_is_not_json_is_a_415(api: Api) -> None:
    response = api.client.post(
        "/v1/auth/login",
        content=b"email=a%40b.c&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert_problem(response, 415, "unsupported_media_type")


def test_a_body_over_the_limit_is_a_413(api: Api) -> None:
    limit = api.tenantry.settings.max_body_bytes
    oversized = {"email": unique_email(), "password": "p" * limit, "name": "N"}

    response = api.client.post("/v1/auth/signup", json=oversized)

    assert_problem(response, 413, "payload_too_large")


def test_a_streamed_body_over_the_limit_is_a_413(api: Api) -> None:
    limit = api.tenantry.settings.max_body_bytes
    chunks = iter([b'{"email": "a@b.c", "password": "', b"p" * limit, b'"}'])

    response = api.client.post(
        "/v1/auth/login", content=chunks, headers={"content-type": "application/json"}
    )

    assert_problem(response, 413, "payload_too_large")


def test_a_weak_password_is_refused(api: Api) -> None:
    email = unique_email("weak")

    response = api.signup(email, password="short")

    body = assert_problem(response, 422, "weak_password")
    assert "10" in body["detail"]
    assert stored_user(api, email) is None
    assert_problem(api.login(email, "short"), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "name", ["   ", "\t\n", "\u00a0\u2003"], ids=["spaces", "tab-newline", "unicode-spaces"]
)
def test_a_name_of_white_space_only_is_refused_and_stores_no_user(
    api: Api, mailbox: Mailbox, store_target: StoreTarget, name: str
) -> None:
    email = unique_email("blank")

    response = api.signup(email, name=name)

    assert_problem(response, 422, "invalid_name")
    assert stored_user(api, email) is None
    assert mailbox.deliver() == []
    assert audit_events_of(store_target, response) == []


BAD_BODIES: list[tuple[str, Any]] = [
    ("/v1/auth/signup", []),
    ("/v1/auth/signup", "just a string"),
    ("/v1/auth/signup", None),
    ("/v1/auth/signup", {"email": 42, "password": ["x"], "name": {"a": 1}}),
    ("/v1/auth/signup", {"email": "a@b.c", "password": PASSWORD, "name": "x" * 5000}),
    ("/v1/auth/signup", {"email": unique_email(), "password": PASSWORD, "name": "Nul\u0000Byte"}),
    ("/v1/auth/signup", {"email": "nul\u0000@example.com", "password": PASSWORD, "name": "N"}),
    ("/v1/auth/login", {"email": "a@b.c", "password": PASSWORD, "organisation_id": "\u0000"}),
    ("/v1/auth/refresh", {"refresh_token": "rt_\u0000", "organisation_id": "org_\u0000"}),
    ("/v1/auth/verify-email", {"token": "\u0000"}),
    ("/v1/auth/password-reset", {"email": "not-an-email"}),
    ("/v1/auth/password-reset/confirm", {"token": "\u0000", "new_password": PASSWORD}),
]


@pytest.mark.parametrize(("path", "payload"), BAD_BODIES)
def test_bad_input_is_refused_as_a_problem_never_a_500(api: Api, path: str, payload: Any) -> None:
    response = api.client.post(path, json=payload)

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"]


@pytest.mark.parametrize(
    ("method", "url"), [("DELETE", "/v1/me/sessions/ses_%00"), ("GET", "/v1/me?filter=%00")]
)
def test_a_nul_character_in_the_url_is_a_400(api: Api, method: str, url: str) -> None:
    account = api.verified_account()

    response = api.client.request(method, url, headers=account.auth)

    assert_problem(response, 400, "invalid_characters")
    assert me(api, account.access_token).status_code == 200


# --- rehash on login -----------------------------------------------------------------------


def test_login_rehashes_a_password_stored_with_weaker_parameters(
    api: Api,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
) -> None:
    account = api.verified_account()
    assert "m=1024,t=1" in _stored_password_hash(api, account.email)
    stronger = build_tenantry(
        test_settings(store_target, tmp_path, argon2_memory_kib=2048, argon2_time_cost=2),
        clock,
        smtp_server,
    )
    try:
        upgraded_api = Api(stronger, Mailbox(stronger, smtp_server))

        assert upgraded_api.login(account.email).status_code == 200

        assert "m=2048,t=2" in _stored_password_hash(upgraded_api, account.email)
        assert upgraded_api.login(account.email).status_code == 200
        assert_problem(
            upgraded_api.login(account.email, "not the password"), 401, "invalid_credentials"
        )
    finally:
        stronger.close()


def stored_user(api: Api, email: str) -> User | None:
    with api.tenantry.store.unit_of_work() as uow:
        return uow.users.get_by_email(email)


def _stored_password_hash(api: Api, email: str) -> str:
    user = stored_user(api, email)
    assert user is not None
    return user.password_hash
