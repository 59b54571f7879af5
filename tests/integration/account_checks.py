"""What the account suites share: the shape of a refusal, the audit trail of one request,
and the few calls a scenario makes over and over."""

from __future__ import annotations

from typing import Any

from tenantry.domain.audit import AuditEvent
from tests.harness import Account, Api, StoreTarget, actions, audit_events, bearer, unique_email

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 refusal with this status and stable code; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    return body


def audit_of(target: StoreTarget, response: Any, **query: Any) -> AuditEvent:
    """The one audit event matching `query` that the request behind `response` recorded.

    Events are matched on the request id, so other tests sharing the database never interfere.
    """
    found = audit_events_of(target, response, **query)
    assert len(found) == 1, f"wanted one event for {query}, got {found}"
    return found[0]


def audit_events_of(target: StoreTarget, response: Any, **query: Any) -> list[AuditEvent]:
    """Every audit event matching `query` that the request behind `response` recorded."""
    query.setdefault("org_id", None)
    # Filtered in the store: a worker's database holds more account events than one page.
    return audit_events(target, request_id=response.headers["x-request-id"], **query)


def audit_trail(target: StoreTarget, user_id: str, org_id: str | None = None) -> list[Any]:
    """`(action, outcome)` of everything the user did, sorted: events of one instant (the test
    clock stands still) have no order of their own."""
    return sorted(actions(audit_events(target, org_id=org_id, actor_id=user_id)))


def unverified_account(api: Api, email: str | None = None) -> tuple[str, str]:
    """Signed up but never clicked the link: `(email, user_id)`."""
    email = email or unique_email("unverified")
    response = api.signup(email)
    assert response.status_code == 202, response.text
    return email, stored_user_id(api, email)


def stored_user_id(api: Api, email: str) -> str:
    """The id of the account with this email, as the store has it (sign-up does not say)."""
    with api.tenantry.store.unit_of_work() as uow:
        user = uow.users.get_by_email(email)
    assert user is not None, f"no account for {email}"
    return user.id


def fail_logins(api: Api, emails: list[str]) -> None:
    """One wrong password for each email, in order: each refused as `invalid_credentials`."""
    for email in emails:
        assert_problem(api.login(email, "a wrong password"), 401, "invalid_credentials")


def log_in_again(api: Api, account: Account) -> Account:
    """The same user on another device: a second session with its own tokens, and no
    organisation chosen (a user-level token)."""
    response = api.login(account.email, account.password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    return Account(
        account.email,
        account.password,
        account.user_id,
        tokens["access_token"],
        tokens["refresh_token"],
    )


def me(api: Api, access_token: str) -> Any:
    return api.client.get("/v1/me", headers=bearer(access_token))


def refresh(api: Api, refresh_token: str) -> Any:
    return api.client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def session_ids(api: Api, account: Account) -> dict[str, bool]:
    """The caller's live sessions: id → whether it is the one making the call."""
    response = api.client.get("/v1/me/sessions", headers=account.auth)
    assert response.status_code == 200, response.text
    return {item["id"]: item["current"] for item in response.json()["items"]}
