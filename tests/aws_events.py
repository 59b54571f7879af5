"""Lambda events as API Gateway sends them (the shapes AWS documents for Lambda authorizers and
proxy integrations), and the context object Lambda passes: what the AWS handler tests replay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

REGION, ACCOUNT, API_ID = "eu-west-1", "123456789012", "a1b2c3d4e5"


def method_arn(method: str, path: str, *, stage: str = "prod") -> str:
    """The ARN of a request: `arn:aws:execute-api:region:account:api/stage/METHOD/path`."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{stage}/{method}{path}"


def rest_token_event(token: str | None, method: str, path: str) -> dict[str, Any]:
    """A REST API TOKEN authorizer's event: the token header's value and the method ARN."""
    event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn(method, path)}
    if token is not None:
        event["authorizationToken"] = f"Bearer {token}"
    return event


def rest_request_event(
    token: str | None,
    method: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API REQUEST authorizer's event (payload 1.0): the whole request's parts."""
    headers = {"Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "Accept": "*/*"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "type": "REQUEST",
        "methodArn": method_arn(method, path),
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": path_parameters or {},
        "stageVariables": {},
        "requestContext": {
            "path": f"/prod{path}",
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": API_ID,
        },
    }


def http_api_event(
    token: str | None,
    route_key: str,
    path: str,
    path_parameters: dict[str, str] | None = None,
    *,
    method: str | None = None,
) -> dict[str, Any]:
    """An HTTP API Lambda authorizer's event with payload format 2.0 (`method` for a route
    key that names none, such as `$default`)."""
    method = method or route_key.split(" ", 1)[0]
    headers = {"host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "accept": "*/*"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": method_arn(method, path, stage="$default"),
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "cookies": [],
        "headers": headers,
        "queryStringParameters": {},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": headers["host"],
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": "03/Dec/2026:06:00:00 +0000",
            "timeEpoch": 1796277600000,
        },
        "pathParameters": path_parameters or {},
        "stageVariables": {},
    }
    if token is not None:
        event["identitySource"] = [f"Bearer {token}"]
    return event


def http_api_proxy_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API's proxy integration event (payload 2.0) for the API function; a query
    string in `path` goes where API Gateway puts it."""
    sent = {"host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", **(headers or {})}
    path, _, query = path.partition("?")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": [],
        "headers": sent,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": sent["host"],
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "03/Dec/2026:06:00:00 +0000",
            "timeEpoch": 1796277600000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


@dataclass
class LambdaContext:
    """The context object the Lambda runtime passes a handler (the members handlers read)."""

    function_name: str = "tenantry-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tenantry-test"
    memory_limit_in_mb: int = 512
    remaining_milliseconds: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_milliseconds
