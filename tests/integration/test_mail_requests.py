"""Requests anyone may make that send an email (password reset, verification resend, sign-up):
limited per email address and per client address, with 429 and Retry-After, and limited the
same whether or not the address has an account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tenantry.domain.audit import ActorType, Outcome
from tests.harness import (
    PASSWORD,
    Api,
    Mailbox,
    StoreTarget,
    audit_events,
    build_tenantry,
    test_settings,
    unique_email,
)
from tests.in_process import InProcessClient
from tests.integration.account_checks import (
    assert_problem,
    audit_of,
    stored_user_id,
    unverified_account,
)
from tests.smtp_server import SmtpServer

if TYPE_CHECKING:
    from tests.harness import TestClock  # not at run time: pytest would try to collect it

pytestmark = pytest.mark.smtp

RESET = "Reset your password"
VERIFY = "Verify your email address"


@pytest.fixture(autouse=True)
def _queued_mail_is_delivered(mailbox: Mailbox) -> Iterator[None]:
    """Mail a test queued and never read is sent when it ends: on the shared PostgreSQL, a
    later test would otherwise receive it."""
    yield
    mailbox.deliver()


def request_reset(client: TestClient, email: str) -> Any:
    return client.post("/v1/auth/password-reset", json={"email": email})


def resend(client: TestClient, email: str) -> Any:
    return client.post("/v1/auth/verify-email/resend", json={"email": email})


def subjects(mailbox: Mailbox, email: str) -> list[str]:
    return [message["Subject"] for message in mailbox.messages_to(email)]


def answer(response: Any) -> tuple[int, str | None, dict[str, Any]]:
    """What a client sees of a response, but for the request id."""
    body = {key: value for key, value in response.json().items() if key != "request_id"}
    return response.status_code, response.headers.get("retry-after"), body


def at_the_start_of_a_window(api: Api, clock: TestClock) -> int:
    window = api.tenantry.settings.mail_request_window_seconds
    clock.advance(seconds=window - clock.now().timestamp() % window)
    return window


def test_thirty_reset_requests_for_one_inbox_send_it_five_emails(
    api: Api, mailbox: Mailbox, clock: TestClock, store_target: StoreTarget
) -> None:
    account = api.verified_account()
    window = at_the_start_of_a_window(api, clock)  # past the hour of its sign-up
    limit = api.tenantry.settings.mail_requests_per_email

    answers = [request_reset(api.client, account.email) for _ in range(30)]

    assert [r.status_code for r in answers] == [202] * limit + [429] * (30 - limit)
    refused = assert_problem(answers[-1], 429, "rate_limited")
    assert "try again later" in refused["detail"]
    assert {r.headers["retry-after"] for r in answers[limit:]} == {str(window)}
    assert subjects(mailbox, account.email).count(RESET) == limit
    event = audit_of(store_target, answers[-1], action="user.password_reset_request")
    assert (event.outcome, event.reason, event.actor_type, event.details) == (
        Outcome.DENIED,
        "rate_limited",
        ActorType.ANONYMOUS,
        {"email": account.email},
    )


def test_an_unknown_email_is_limited_exactly_like_a_known_one(api: Api, clock: TestClock) -> None:
    known, unknown = api.verified_account().email, unique_email("nobody")
    at_the_start_of_a_window(api, clock)  # past the hour of its sign-up
    tries = api.tenantry.settings.mail_requests_per_email + 2

    for path in ("/v1/auth/password-reset", "/v1/auth/verify-email/resend"):
        known_answers = [answer(api.client.post(path, json={"email": known})) for _ in range(2)]
        unknown_answers = [answer(api.client.post(path, json={"email": unknown})) for _ in range(2)]
        assert known_answers == unknown_answers, path
    rest = [answer(request_reset(api.client, known)) for _ in range(tries - 4)]

    assert rest == [answer(request_reset(api.client, unknown)) for _ in range(tries - 4)]
    assert [status for status, _, _ in rest] == [202, 429, 429]


def test_spelling_the_email_differently_does_not_escape_the_limit(
    api: Api, mailbox: Mailbox, clock: TestClock
) -> None:
    account = api.verified_account()
    at_the_start_of_a_window(api, clock)
    limit = api.tenantry.settings.mail_requests_per_email
    full_width = chr(ord(account.email[0]) - ord("a") + ord("\uff41")) + account.email[1:]
    spellings = [account.email.upper(), f" {account.email} ", full_width]

    answers = [request_reset(api.client, spellings[n % 3]) for n in range(limit + 1)]

    assert [r.status_code for r in answers] == [202] * limit + [429]
    assert subjects(mailbox, account.email).count(RESET) == limit


def test_one_client_address_is_limited_across_email_addresses(
    store_target: StoreTarget, tmp_path: Path, clock: TestClock, smtp_server: SmtpServer
) -> None:
    settings = test_settings(store_target, tmp_path, mail_requests_per_ip=3)
    app = build_tenantry(settings, clock, smtp_server)
    try:
        api = Api(app, Mailbox(app, smtp_server))
        spammer = InProcessClient(app=api.client.app, client=("203.0.113.9", 1))
        targets = [unique_email("target") for _ in range(4)]

        answers = [request_reset(spammer, email) for email in targets]
        signup = spammer.post(
            "/v1/auth/signup", json={"email": unique_email(), "password": PASSWORD, "name": "S"}
        )
        elsewhere = request_reset(api.client, targets[-1])

        assert [r.status_code for r in answers] == [202, 202, 202, 429]
        assert_problem(signup, 429, "rate_limited")  # the same budget for every mail request
        assert elsewhere.status_code == 202
        refused = audit_of(store_target, signup, action="user.signup")
        assert (refused.outcome, refused.reason) == (Outcome.DENIED, "rate_limited")
        api.mailbox.deliver()
    finally:
        app.close()


def test_sign_up_and_resend_share_the_address_budget_until_the_window_ends(
    api: Api, mailbox: Mailbox, clock: TestClock
) -> None:
    window = at_the_start_of_a_window(api, clock)
    email, _ = unverified_account(api)
    limit = api.tenantry.settings.mail_requests_per_email

    allowed = [resend(api.client, email) for _ in range(limit - 1)]
    refused = resend(api.client, email)
    clock.advance(seconds=window)
    again = resend(api.client, email)

    assert [r.status_code for r in allowed] == [202] * (limit - 1)
    assert_problem(refused, 429, "rate_limited")
    assert again.status_code == 202
    assert subjects(mailbox, email).count(VERIFY) == limit + 1


# --- the verification resend route ---------------------------------------------------------


def test_a_resent_verification_link_verifies_the_account(
    api: Api, mailbox: Mailbox, clock: TestClock, store_target: StoreTarget
) -> None:
    email, user_id = unverified_account(api)
    clock.advance(seconds=api.tenantry.settings.email_token_ttl_seconds + 1)  # the first expired

    response = resend(api.client, email.upper())
    token = mailbox.last_link_token(email, "/verify-email")
    verified = api.client.post("/v1/auth/verify-email", json={"token": token})

    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    assert subjects(mailbox, email) == [VERIFY, VERIFY]
    assert verified.status_code == 200, verified.text
    event = audit_of(store_target, response, action="user.verification_resend")
    assert (event.outcome, event.actor_id, event.actor_type) == (
        Outcome.SUCCESS,
        user_id,
        ActorType.ANONYMOUS,
    )
    assert api.login(email).status_code == 200


@pytest.mark.parametrize("who", ["verified", "unknown"])
def test_a_resend_for_a_verified_or_unknown_email_answers_the_same_and_sends_nothing(
    api: Api, mailbox: Mailbox, store_target: StoreTarget, who: str
) -> None:
    email = api.verified_account().email if who == "verified" else unique_email("nobody")
    before = len(mailbox.messages_to(email))
    fresh, _ = unverified_account(api)

    response = resend(api.client, email)

    assert (response.status_code, response.content) == (
        resend(api.client, fresh).status_code,
        resend(api.client, fresh).content,
    )
    assert len(mailbox.messages_to(email)) == before
    event = audit_of(store_target, response, action="user.verification_resend")
    expected_reason = "already_verified" if who == "verified" else "unknown_email"
    assert (event.outcome, event.reason, event.details) == (
        Outcome.FAILURE,
        expected_reason,
        {"email": email},
    )
    if who == "verified":
        assert event.resource_id == stored_user_id(api, email)
    request_id = response.headers["x-request-id"]
    assert (
        audit_events(store_target, org_id=None, action="user.verify_email", request_id=request_id)
        == []
    )
