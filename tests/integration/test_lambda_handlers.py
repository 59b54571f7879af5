"""The Lambda entry points as the runtime calls them, each building its tenantry from the
environment on first use and keeping it warm: `tenantry.aws.api.handler` (the HTTP API through
Mangum), `tenantry.aws.outbox.handler` (the scheduled email and job relay) and
`tenantry.aws.authorizer.handler`. Together they carry an account from sign-up to an Allow:
sign up through the API function, the verification email sent by the outbox function to a real
SMTP server, the link followed, a login, and the token allowed by the authorizer function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantry.aws import api as api_function
from tenantry.aws import authorizer as authorizer_function
from tenantry.aws import outbox as outbox_function
from tenantry.domain.errors import Invalid
from tests.aws_events import LambdaContext, http_api_proxy_event, rest_token_event
from tests.harness import (
    ON_EVERY_STORE,
    PASSWORD,
    StoreTarget,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.servers import environment
from tests.smtp_server import SmtpServer

pytestmark = ON_EVERY_STORE

ROUTES = {
    "POST /sites/{id}/publish": "site:publish",
    "GET /orgs/{org}": {
        "permission": "organisation:read",
        "org_from": "org",
    },
}


@pytest.fixture
def lambda_environment(
    store_target: StoreTarget,
    tmp_path: Path,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The functions' environment variables, on the test's store and SMTP server; each
    function cold again at the start and the end."""
    settings = test_settings(
        store_target, tmp_path, smtp_host=smtp_server.host, smtp_port=smtp_server.port
    )
    variables = {
        **environment(settings),
        "TENANTRY_MAILER": "smtp",
        "TENANTRY_AWS_ROUTES": json.dumps(ROUTES),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for function in (api_function, authorizer_function, outbox_function):
        monkeypatch.setattr(function, "_warm", None)
    yield variables
    for function in (api_function, authorizer_function, outbox_function):
        warm = function._warm
        tenantry = getattr(warm, "tenantry", warm)
        close = getattr(tenantry, "close", None)
        if callable(close):
            close()


def call_api(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    sent = json.dumps(body) if body is not None else None
    event = http_api_proxy_event(method, path, body=sent, headers=headers)
    answer = api_function.handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def test_an_account_goes_from_sign_up_to_an_allow_through_the_three_functions(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    email = unique_email("lambda")

    signed_up = call_api(
        "POST", "/v1/auth/signup", {"email": email, "password": PASSWORD, "name": "Lam"}
    )
    work = outbox_function.handler({"source": "aws.events"}, LambdaContext())
    [mail] = [m for m in smtp_server.messages if m["To"] == email]
    link = mail.get_body(preferencelist=("plain",))
    assert link is not None
    token = link.get_content().split("/verify-email?token=")[1].split()[0]
    verified = call_api("POST", "/v1/auth/verify-email", {"token": token})
    logged_in = call_api("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    user_token, refresh = logged_in[1]["access_token"], logged_in[1]["refresh_token"]
    org = call_api(
        "POST", "/v1/organisations", {"name": "Lambda Co", "slug": unique_slug()}, user_token
    )
    switched = call_api(
        "POST", "/v1/auth/refresh", {"refresh_token": refresh, "organisation_id": org[1]["id"]}
    )
    org_token = switched[1]["access_token"]
    publish = authorizer_function.handler(
        rest_token_event(org_token, "POST", "/sites/s1/publish"), LambdaContext()
    )
    warm_authorizer = authorizer_function._warm
    again = authorizer_function.handler(
        rest_token_event(org_token, "POST", "/sites/s1/publish"), LambdaContext()
    )

    assert signed_up[0] == 202, signed_up
    assert work["sent"] >= 1
    assert verified[0] == 200, verified
    assert logged_in[0] == 200, logged_in
    assert (org[0], switched[0]) == (201, 200), (org, switched)
    for answer in (publish, again):
        [allow] = answer["policyDocument"]["Statement"]
        assert allow["Effect"] == "Allow"  # an OWNER holds everything
        assert answer["context"]["orgId"] == org[1]["id"]
    assert authorizer_function._warm is warm_authorizer  # built once, kept warm


def test_the_outbox_function_leaves_a_batch_alone_without_the_time_to_finish_it(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    email = unique_email("late")
    call_api("POST", "/v1/auth/signup", {"email": email, "password": PASSWORD, "name": "Late"})

    short = outbox_function.handler({}, LambdaContext(remaining_milliseconds=5_000))
    later = outbox_function.handler({}, LambdaContext())

    assert (short["sent"], short["failed"], short["dead"]) == (0, 0, 0)
    assert later["sent"] >= 1
    assert [m["To"] for m in smtp_server.messages].count(email) == 1


def test_the_api_function_answers_problems_as_the_server_does(
    lambda_environment: dict[str, str],
) -> None:
    status, body = call_api("GET", "/v1/me")
    missing = call_api("GET", "/v1/nothing-here")

    assert status == 401
    assert body["code"] == "missing_token"
    assert missing[0] == 404
    assert missing[1]["code"] == "route_not_found"


def test_a_route_map_that_cannot_be_read_stops_the_authorizer_cold(
    lambda_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTRY_AWS_ROUTES", json.dumps({"PUBLISH /sites": "site:publish"}))

    with pytest.raises(Invalid) as refused:
        authorizer_function.handler(rest_token_event("x", "GET", "/sites"), LambdaContext())

    assert refused.value.code == "invalid_aws_routes"
    assert "PUBLISH /sites" in refused.value.detail
    assert authorizer_function._warm is None
