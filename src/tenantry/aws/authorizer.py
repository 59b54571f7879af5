"""`tenantry.aws.authorizer.handler`: an API Gateway Lambda authorizer in front of the product's
own API, deciding each request with tenantry's authorizer (`authorizer/service.py`) on the
route's permission (`routes.py`).

It reads REST API events (TOKEN, and REQUEST with payload 1.0, also an HTTP API's payload 1.0)
and HTTP API events with payload 2.0; it answers an IAM policy, or for payload 2.0 a simple
response when `TENANTRY_AWS_HTTP_API_RESPONSE=simple` (the default). The policy names only the
method ARN of the request: an Allow that API Gateway caches for a token can never open another
route (docs/aws.md, "Caching").

It never allows on an error: a token that is not valid is `Unauthorized` (API Gateway's 401)
or `isAuthorized: false`; a route the map does not name, or a question tenantry refuses, is a
Deny with the reason; anything unexpected is raised, which API Gateway turns into a 500 and
does not cache. The handler keeps its tenantry (store connections, signing keys, compiled
access snapshots) across invocations of a warm container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    parse_api_gateway_arn,
)

from tenantry.authorizer import service as authorizer
from tenantry.authorizer.service import Authorization
from tenantry.aws.routes import Matched, RouteMap
from tenantry.bootstrap import Tenantry, bootstrap
from tenantry.domain.errors import TenantryError, Unauthenticated
from tenantry.logging import configure_logging
from tenantry.runner import Runner
from tenantry.settings import Settings

log = structlog.get_logger()

LABEL = "lambda authorizer"  # names the check in tenantry's failure events
_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # what a team or organisation id from a path may be
MAX_CONTEXT_PERMISSIONS = 100  # API Gateway bounds the context; a member rarely holds more
Response = dict[str, Any]


class Unauthorized(Exception):  # API Gateway's word: this message means 401
    """Raised with exactly this message, API Gateway answers 401 without calling the API."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class MalformedEvent(Exception):
    pass


@dataclass(frozen=True, slots=True)
class AuthorizerRequest:
    """What an event asks, whatever its format."""

    payload: Literal["1.0", "2.0"]
    token: str | None
    arn: str  # the method (REST) or route (HTTP API) ARN the answer is about
    method: str
    path: str
    route_key: str | None  # API Gateway's own route, with `path_parameters`, when it says
    path_parameters: dict[str, str] | None


def read_event(event: dict[str, Any]) -> AuthorizerRequest:
    try:
        if event.get("version") == "2.0":
            return _http_api_event(event)
        if event.get("type") == "TOKEN":
            return _token_event(event)
        if event.get("type") == "REQUEST":
            return _request_event(event)
    except (LookupError, TypeError, ValueError, AttributeError) as error:
        raise MalformedEvent(f"{type(error).__name__}: {error}") from None
    raise MalformedEvent("neither a TOKEN, a REQUEST nor a payload 2.0 event")


def _token_event(event: dict[str, Any]) -> AuthorizerRequest:
    arn = str(event["methodArn"])
    method, path = _method_and_path(arn)
    token = _without_scheme(event.get("authorizationToken"))
    return AuthorizerRequest("1.0", token, arn, method, path, None, None)


def _request_event(event: dict[str, Any]) -> AuthorizerRequest:
    arn = str(event["methodArn"])
    method, path = _method_and_path(arn)
    resource = event.get("resource")
    return AuthorizerRequest(
        "1.0",
        _without_scheme(_header(event.get("headers"), "authorization")),
        arn,
        method,
        path,
        f"{method} {resource}" if resource else None,
        _parameters(event.get("pathParameters")),
    )


def _http_api_event(event: dict[str, Any]) -> AuthorizerRequest:
    arn = str(event["routeArn"])
    method, path = _method_and_path(arn)
    sources = event.get("identitySource") or []
    token = _header(event.get("headers"), "authorization") or (sources[0] if sources else None)
    return AuthorizerRequest(
        "2.0",
        _without_scheme(token),
        arn,
        method,
        path,
        _text_or_none(event.get("routeKey")),
        _parameters(event.get("pathParameters")),
    )


def _text_or_none(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _method_and_path(arn: str) -> tuple[str, str]:
    """The request's method and path, as the ARN API Gateway built names them (the stage
    left out): what the policy is about, whatever else the event says."""
    parsed = parse_api_gateway_arn(arn)
    if not parsed.http_method:
        raise ValueError(f"no method in {arn!r}")
    return parsed.http_method.upper(), f"/{parsed.resource}"


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def _without_scheme(value: Any) -> str | None:
    """The token of `Bearer <token>`, or a bare token (a TOKEN event may pass one as is)."""
    if not isinstance(value, str) or not value.strip():
        return None
    scheme, _, token = value.strip().partition(" ")
    if not token:
        return scheme
    return token.strip() or None if scheme.lower() == "bearer" else None


def _parameters(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


class LambdaAuthorizer:
    def __init__(
        self,
        tenantry: Tenantry,
        routes: RouteMap,
        *,
        http_api_response: Literal["simple", "iam"] = "simple",
    ) -> None:
        self.tenantry = tenantry
        self.routes = routes
        self.http_api_response = http_api_response

    def __call__(self, event: dict[str, Any], context: Any = None) -> Response:
        request_id = str(getattr(context, "aws_request_id", "") or "") or None
        try:
            request = read_event(event)
        except MalformedEvent as error:
            log.warning("authorizer.malformed_event", error=str(error), request_id=request_id)
            raise Unauthorized() from None
        if request.token is None:
            return self._unauthorized(request, "missing_token")
        matched = self.routes.find(
            request.method, request.path, key=request.route_key, given=request.path_parameters
        )
        if matched is None:
            return self._deny(request, "unknown_route")
        return self._decide(request, matched, request.token, request_id)

    def _decide(
        self, request: AuthorizerRequest, matched: Matched, token: str, request_id: str | None
    ) -> Response:
        rule = matched.route.rule
        team_id = matched.parameters.get(rule.team_from) if rule.team_from else None
        org_id = matched.parameters.get(rule.org_from) if rule.org_from else None
        if any(value is not None and not _ID.fullmatch(value) for value in (team_id, org_id)):
            return self._deny(request, "invalid_route_parameter")
        run = Runner(self.tenantry, request_id=request_id, label=LABEL)
        try:
            answer = run(
                lambda uow: authorizer.authorize(
                    uow,
                    run.deps,
                    self.tenantry.authorizer,
                    token,
                    org_id=org_id,
                    permissions=list(rule.permissions),
                    team_id=team_id,
                    issuers=self.tenantry.issuers,
                )
            )
        except Unauthenticated as error:
            return self._unauthorized(request, error.code)
        except TenantryError as error:  # a refusal of the question: never an Allow
            return self._deny(request, error.code)
        log.info(
            "authorizer.decided",
            route=matched.route.key,
            allowed=answer.allowed,
            user_id=answer.user_id,
            org_id=answer.org_id,
            request_id=request_id,
        )
        return self._answer(request, answer)

    def _answer(self, request: AuthorizerRequest, answer: Authorization) -> Response:
        denied = [d for d in answer.decisions if not d.allowed]
        context = {
            "userId": answer.user_id,
            "orgId": answer.org_id,
            "orgRole": answer.org_role.value if answer.org_role is not None else "",
            "teamIds": ",".join(answer.team_ids),
            "permissions": ",".join(_held(answer)),
            "epoch": answer.epoch if answer.epoch is not None else -1,
            "reason": denied[0].reason.value if denied else "granted",
        }
        return self._respond(request, answer.allowed, answer.user_id, context)

    def _unauthorized(self, request: AuthorizerRequest, reason: str) -> Response:
        if request.payload == "2.0" and self.http_api_response == "simple":
            return {"isAuthorized": False, "context": {"reason": reason}}
        raise Unauthorized()

    def _deny(self, request: AuthorizerRequest, reason: str) -> Response:
        return self._respond(request, False, "unknown", {"reason": reason})

    def _respond(
        self, request: AuthorizerRequest, allow: bool, principal: str, context: dict[str, Any]
    ) -> Response:
        if request.payload == "2.0" and self.http_api_response == "simple":
            return {"isAuthorized": allow, "context": context}
        return _policy(request.arn, allow, principal, context)


def _policy(arn: str, allow: bool, principal: str, context: dict[str, Any]) -> Response:
    """An IAM policy on exactly this method ARN (never a wildcard: a cached Allow must not
    open another route)."""
    parsed = parse_api_gateway_arn(arn)
    policy = APIGatewayAuthorizerResponse(
        principal_id=principal,
        region=parsed.region,
        aws_account_id=parsed.aws_account_id,
        api_id=parsed.api_id,
        stage=parsed.stage,
        context=context,
        partition=parsed.partition,
    )
    # Powertools checks the resource against API Gateway's path grammar: a path it refuses
    # (odd characters) is denied.
    method = parsed.http_method or ""
    try:
        if allow:
            policy.allow_route(http_method=method, resource=parsed.resource)
        else:
            policy.deny_route(http_method=method, resource=parsed.resource)
    except ValueError:
        policy = APIGatewayAuthorizerResponse(
            principal_id=principal,
            region=parsed.region,
            aws_account_id=parsed.aws_account_id,
            api_id=parsed.api_id,
            stage=parsed.stage,
            context={**context, "reason": "invalid_route_path"},
            partition=parsed.partition,
        )
        policy.deny_all_routes()
    answer: Response = policy.asdict()
    return answer


def _held(answer: Authorization) -> list[str]:
    """The patterns the member holds (organisation-wide and in the teams they are in)."""
    if answer.snapshot is None:
        return []
    return sorted({grant.pattern for grant in answer.snapshot.grants})[:MAX_CONTEXT_PERMISSIONS]


def from_environment() -> LambdaAuthorizer:
    """The authorizer a Lambda container builds once, from its environment."""
    settings = Settings()
    configure_logging(as_json=True)
    routes = RouteMap.parse(settings.aws_routes)  # a map it cannot read stops it cold
    tenantry = bootstrap(settings)
    tenantry.store.check_tenant_isolation()  # as every server does before it answers
    return LambdaAuthorizer(tenantry, routes, http_api_response=settings.aws_http_api_response)


_warm: LambdaAuthorizer | None = None


def handler(event: dict[str, Any], context: Any) -> Response:
    """The Lambda entry point (`tenantry.aws.authorizer.handler`)."""
    global _warm  # the warm container's one authorizer, built on first use
    if _warm is None:
        _warm = from_environment()
    return _warm(event, context)
