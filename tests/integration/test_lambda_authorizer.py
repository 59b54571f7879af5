"""The API Gateway Lambda authorizer (`tenantry.aws.authorizer`), fed the events API Gateway
sends (REST TOKEN, REST REQUEST, HTTP API payload 2.0) and deciding through tenantry's own
authorizer on a real store: Allow only on exactly the request's ARN, Deny with the reason
(and on record), `Unauthorized` for a token that is not valid, never an Allow on an error."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenantry.aws.authorizer import LambdaAuthorizer, Unauthorized
from tenantry.aws.routes import RouteMap
from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import EventType, Outcome
from tests import access_builders as access
from tests.aws_events import (
    LambdaContext,
    http_api_event,
    method_arn,
    rest_request_event,
    rest_token_event,
)
from tests.harness import (
    ON_EVERY_STORE,
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    build_tenantry,
    test_settings,
)
from tests.integration.test_access_tokens import EDITS, resigned
from tests.integration.test_authorize import member_with_role
from tests.integration.test_external_issuers import a_pool, a_pool_user, their_token
from tests.jwks_server import CognitoPool, IssuerKey, JwksServer, jwks_server  # noqa: F401
from tests.smtp_server import SmtpServer

pytestmark = ON_EVERY_STORE

ROUTES: dict[str, Any] = {
    "POST /sites/{id}/publish": "site:publish",
    "GET /teams/{team}/sites": {"permission": "site:read", "team_from": "team"},
    "DELETE /orgs/{org}/sites/{id}": {"permissions": ["site:delete"], "org_from": "org"},
    "ANY /files/{path+}": "file:read",
}


def authorizer_of(api: Api, **options: Any) -> LambdaAuthorizer:
    return LambdaAuthorizer(api.tenantry, RouteMap.parse(ROUTES), **options)


def publisher(api: Api) -> tuple[Account, Account]:
    """An owner, and a member of the owner's organisation holding `site:publish`."""
    owner, _ = api.owner_with_org()
    member, _ = member_with_role(api, owner, "Publisher", ["site:publish", "site:read"])
    return owner, member


def statement(answer: dict[str, Any]) -> tuple[str, list[str]]:
    [only] = answer["policyDocument"]["Statement"]
    assert only["Action"] == "execute-api:Invoke"
    return only["Effect"], only["Resource"]


def decide(authorizer: LambdaAuthorizer, event: dict[str, Any]) -> dict[str, Any]:
    return authorizer(event, LambdaContext())


# --- REST API, TOKEN ----------------------------------------------------------------------------


def test_a_rest_token_event_allows_exactly_the_method_arn_with_the_members_context(
    api: Api,
) -> None:
    _, member = publisher(api)

    answer = decide(
        authorizer_of(api), rest_token_event(member.access_token, "POST", "/sites/s1/publish")
    )

    assert statement(answer) == ("Allow", [method_arn("POST", "/sites/s1/publish")])
    assert answer["principalId"] == member.user_id
    context = answer["context"]
    assert (context["userId"], context["orgId"], context["orgRole"]) == (
        member.user_id,
        member.org_id,
        "MEMBER",
    )
    assert {"site:publish", "site:read"} <= set(context["permissions"].split(","))
    assert context["teamIds"] == ""
    assert context["reason"] == "granted"
    assert isinstance(context["epoch"], int)
    assert context["epoch"] >= 1
    assert all(isinstance(v, str | int | bool) for v in context.values())  # primitives only


def test_a_rest_token_event_denies_with_the_reason_and_the_denial_is_on_record(
    api: Api, store_target: StoreTarget
) -> None:
    owner, _ = api.owner_with_org()
    member = api.member_of(owner.org_id or "")

    answer = decide(
        authorizer_of(api), rest_token_event(member.access_token, "POST", "/sites/s1/publish")
    )

    assert statement(answer) == ("Deny", [method_arn("POST", "/sites/s1/publish")])
    assert answer["context"]["reason"] == "no_matching_permission"
    access.assert_one_denial(
        store_target, member.org_id or "", member.user_id, "site:publish", "no_matching_permission"
    )


def test_a_route_the_map_does_not_name_is_denied_even_to_the_owner(api: Api) -> None:
    owner, _ = api.owner_with_org()

    answer = decide(
        authorizer_of(api), rest_token_event(owner.access_token, "GET", "/admin/everything")
    )
    wrong_method = decide(
        authorizer_of(api), rest_token_event(owner.access_token, "GET", "/sites/s1/publish")
    )

    for refused in (answer, wrong_method):
        assert statement(refused)[0] == "Deny"
        assert refused["context"] == {"reason": "unknown_route"}


def test_a_greedy_route_matches_the_rest_of_the_path_for_any_method(api: Api) -> None:
    owner, _ = api.owner_with_org()
    member, _ = member_with_role(api, owner, "Reader", ["file:read"])
    authorizer = authorizer_of(api)

    deep = decide(authorizer, rest_token_event(member.access_token, "GET", "/files/a/b/c.txt"))
    put = decide(authorizer, rest_token_event(member.access_token, "PUT", "/files/x"))
    bare = decide(authorizer, rest_token_event(member.access_token, "GET", "/files"))

    assert statement(deep)[0] == statement(put)[0] == "Allow"
    assert bare["context"] == {"reason": "unknown_route"}


# --- tokens that are not valid: API Gateway's 401 ----------------------------------------------


def forged_tokens(api: Api, account: Account) -> dict[str, str]:
    header, claims, signature = account.access_token.split(".")
    tampered_claims = json.loads(_unb64(claims)) | {"sub": "usr_someone_else"}
    tampered = _b64(json.dumps(tampered_claims))
    tokens = {
        "tampered claims, old signature": f"{header}.{tampered}.{signature}",
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}))}.{claims}.",
        "signature cut off": f"{header}.{claims}.",
        "not a JWT": "hunter2",
        "empty parts": "..",
    }
    for name in ("a second iss", "a second alg in the header", "a second kid in the header"):
        tokens[name] = resigned(api, account.access_token, EDITS[name])
    return tokens


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_forged_expired_and_missing_tokens_are_unauthorized_never_allowed(
    api: Api, store_target: StoreTarget, clock: TestClock
) -> None:
    _, member = publisher(api)
    tokens: dict[str, str | None] = {**forged_tokens(api, member), "missing": None}
    rest, http = authorizer_of(api), authorizer_of(api, http_api_response="simple")
    path = "/sites/s1/publish"

    for name, token in tokens.items():
        with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
            decide(rest, rest_token_event(token, "POST", path))
        simple = decide(http, http_api_event(token, "POST /sites/{id}/publish", path, {"id": "s1"}))
        assert simple["isAuthorized"] is False, name
        assert set(simple["context"]) == {"reason"}, name

    clock.advance(hours=2)  # past the access token's lifetime
    with pytest.raises(Unauthorized):
        decide(rest, rest_token_event(member.access_token, "POST", path))
    expired = decide(
        http, http_api_event(member.access_token, "POST /sites/{id}/publish", path, {"id": "s1"})
    )
    assert expired == {"isAuthorized": False, "context": {"reason": "token_expired"}}
    allowed = audit_events(store_target, org_id=member.org_id, outcome=Outcome.SUCCESS)
    assert not [e for e in allowed if e.event_type is EventType.AUTHORIZATION]


def test_a_logged_out_token_is_denied_as_revoked(api: Api, store_target: StoreTarget) -> None:
    _, member = publisher(api)
    logged_out = api.client.post("/v1/auth/logout", headers=member.auth)
    assert logged_out.status_code == 204, logged_out.text

    answer = decide(
        authorizer_of(api), rest_token_event(member.access_token, "POST", "/sites/s1/publish")
    )

    assert statement(answer)[0] == "Deny"
    assert answer["context"]["reason"] == "token_revoked"
    [(permission, reason, _, _)] = access.denials(store_target, member.org_id, member.user_id)
    assert (permission, reason) == ("site:publish", "token_revoked")


def test_a_token_for_no_organisation_is_denied_where_the_route_names_none(
    api: Api, store_target: StoreTarget
) -> None:
    signed_in = api.verified_account()  # a sign-in token, before choosing an organisation

    answer = decide(
        authorizer_of(api), rest_token_event(signed_in.access_token, "POST", "/sites/s1/publish")
    )

    assert statement(answer)[0] == "Deny"
    assert (answer["context"]["reason"], answer["context"]["orgId"]) == ("org_mismatch", "")
    [(permission, reason, _, _)] = access.denials(store_target, None, signed_in.user_id)
    assert (permission, reason) == ("site:publish", "org_mismatch")


# --- REST API, REQUEST: the team and the organisation from the path ---------------------------


def test_a_rest_request_event_checks_within_the_team_its_path_names(
    api: Api, store_target: StoreTarget
) -> None:
    owner, _ = api.owner_with_org()
    member = api.member_of(owner.org_id or "")
    team, other = access.made_team(api, owner, "Web"), access.made_team(api, owner, "Ops")
    reader = access.made_role(api, owner, "Team reader", ["site:read"], scope="TEAM")
    added = access.add_to_team(api, owner, team, member.user_id, reader)
    assert added.status_code in (200, 201), added.text
    authorizer = authorizer_of(api)

    def sites_of(team_id: str) -> dict[str, Any]:
        event = rest_request_event(
            member.access_token,
            "GET",
            "/teams/{team}/sites",
            f"/teams/{team_id}/sites",
            {"team": team_id},
        )
        return decide(authorizer, event)

    inside, outside = sites_of(team), sites_of(other)

    assert statement(inside) == ("Allow", [method_arn("GET", f"/teams/{team}/sites")])
    assert inside["context"]["teamIds"] == team
    assert statement(outside)[0] == "Deny"
    assert outside["context"]["reason"] == "not_in_team"
    [(_, reason, resource, _)] = access.denials(store_target, member.org_id, member.user_id)
    assert (reason, resource) == ("not_in_team", other)


def test_an_organisation_named_by_the_path_must_be_the_tokens(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    _, elsewhere = api.owner_with_org()
    authorizer = authorizer_of(api)

    def delete_in(org_id: str) -> dict[str, Any]:
        path = f"/orgs/{org_id}/sites/s1"
        event = rest_request_event(
            owner.access_token,
            "DELETE",
            "/orgs/{org}/sites/{id}",
            path,
            {"org": org_id, "id": "s1"},
        )
        return decide(authorizer, event)

    own, other = delete_in(org["id"]), delete_in(elsewhere["id"])

    assert statement(own)[0] == "Allow"  # an OWNER holds site:delete
    assert statement(other)[0] == "Deny"
    assert other["context"]["reason"] == "org_mismatch"
    assert other["context"]["orgId"] == elsewhere["id"]
    [(_, reason, _, details)] = access.denials(store_target, org["id"], owner.user_id)
    assert (reason, details["organisation_id"]) == ("org_mismatch", elsewhere["id"])


def test_a_path_parameter_that_is_no_id_is_denied_before_any_lookup(api: Api) -> None:
    owner, _ = api.owner_with_org()
    odd = "team_x' OR '1'='1"

    answer = decide(
        authorizer_of(api),
        rest_request_event(
            owner.access_token, "GET", "/teams/{team}/sites", "/teams/odd/sites", {"team": odd}
        ),
    )

    assert statement(answer)[0] == "Deny"
    assert answer["context"] == {"reason": "invalid_route_parameter"}


# --- HTTP API, payload 2.0 ---------------------------------------------------------------------


def test_an_http_api_event_gets_a_simple_response_or_a_policy_on_its_route_arn(api: Api) -> None:
    owner, member = publisher(api)
    plain = api.member_of(owner.org_id or "")
    path = "/sites/s9/publish"
    event = http_api_event(member.access_token, "POST /sites/{id}/publish", path, {"id": "s9"})
    no_team = http_api_event(
        plain.access_token,
        "GET /teams/{team}/sites",
        "/teams/team_nope/sites",
        {"team": "team_nope"},
    )

    simple = decide(authorizer_of(api, http_api_response="simple"), event)
    iam = decide(authorizer_of(api, http_api_response="iam"), event)
    refused = decide(authorizer_of(api, http_api_response="simple"), no_team)

    assert simple["isAuthorized"] is True
    assert simple["context"]["userId"] == member.user_id
    assert statement(iam) == ("Allow", [event["routeArn"]])
    assert iam["context"] == simple["context"]
    assert refused["isAuthorized"] is False
    assert refused["context"]["reason"] == "team_not_found"


def test_a_default_route_is_matched_by_its_path(api: Api) -> None:
    _, member = publisher(api)
    event = http_api_event(member.access_token, "$default", "/sites/s2/publish", method="POST")

    answer = decide(authorizer_of(api), event)

    assert answer["isAuthorized"] is True


# --- never an Allow on an error ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"type": "TOKEN"},
        {"type": "TOKEN", "authorizationToken": "Bearer x", "methodArn": "not-an-arn"},
        {"type": "REQUEST", "headers": "nope", "methodArn": method_arn("GET", "/x")},
        {"version": "2.0", "type": "REQUEST"},
        {"type": "WEBSOCKET"},
    ],
    ids=["empty", "no arn", "bad arn", "bad headers", "2.0 without route", "unknown type"],
)
def test_an_event_that_is_not_api_gateways_is_unauthorized(api: Api, event: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        decide(authorizer_of(api), event)


EVENT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.sampled_from(["TOKEN", "REQUEST", "2.0"]),
    noise=st.dictionaries(
        st.sampled_from(
            [
                "methodArn",
                "routeArn",
                "authorizationToken",
                "headers",
                "pathParameters",
                "routeKey",
                "resource",
                "identitySource",
            ]
        ),
        EVENT_VALUES,
        max_size=4,
    ),
)
@example(shape="2.0", noise={"routeKey": [], "identitySource": ["hunter2"]})  # was a TypeError
def test_no_event_built_around_a_strangers_or_no_token_is_ever_allowed(
    api: Api, shape: str, noise: dict[str, Any]
) -> None:
    base = {
        "TOKEN": rest_token_event("hunter2", "POST", "/sites/s1/publish"),
        "REQUEST": rest_request_event(
            None, "POST", "/sites/{id}/publish", "/sites/s1/publish", {"id": "s1"}
        ),
        "2.0": http_api_event(None, "POST /sites/{id}/publish", "/sites/s1/publish", {"id": "s1"}),
    }[shape]
    event = base | noise
    authorizer = authorizer_of(api, http_api_response="simple")

    try:
        answer = decide(authorizer, event)
    except Unauthorized:
        return
    if "isAuthorized" in answer:
        assert answer["isAuthorized"] is False
    else:
        assert [s["Effect"] for s in answer["policyDocument"]["Statement"]] == ["Deny"]


# --- a trusted external issuer (a Cognito user pool) -------------------------------------------


@pytest.fixture(scope="module")
def pool_keys() -> list[IssuerKey]:
    """The pool's key, and a stranger's (making one takes a while: once for the module)."""
    return [IssuerKey.new("kid-lambda"), IssuerKey.new("kid-stranger")]


@pytest.fixture
def pool(jwks_server: JwksServer, pool_keys: list[IssuerKey]) -> CognitoPool:  # noqa: F811
    return a_pool(jwks_server, pool_keys[0], "access")


@pytest.fixture
def tenantry(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    pool: CognitoPool,
) -> Iterator[Tenantry]:
    """The suite's tenantry, trusting the pool's access tokens."""
    settings = test_settings(store_target, tmp_path, trusted_issuers=[pool.trusted()])
    app = build_tenantry(settings, clock, smtp_server, monotonic=lambda: clock.now().timestamp())
    yield app
    app.close()


def test_a_cognito_token_is_decided_as_the_member_its_subject_is_linked_to(
    api: Api, pool: CognitoPool, pool_keys: list[IssuerKey]
) -> None:
    user = a_pool_user(api)  # holds site:publish, known to the pool by the same email
    token = their_token(api, pool, user)
    authorizer = authorizer_of(api)
    path = "/sites/s1/publish"

    first = decide(authorizer, rest_token_event(token, "POST", path))
    second = decide(authorizer, rest_token_event(token, "POST", path))
    foreign = pool.sign(
        pool.claims(user.subject, issued_at=time.time(), org_id=user.org_id, email=None),
        key=pool_keys[1],
    )

    for answer in (first, second):
        assert statement(answer) == ("Allow", [method_arn("POST", path)])
        assert (answer["principalId"], answer["context"]["orgId"]) == (user.user_id, user.org_id)
    assert pool.fetches == 1  # the warm path kept the pool's keys
    with pytest.raises(Unauthorized):
        decide(authorizer, rest_token_event(foreign, "POST", path))
