"""Flows 1 to 4 of seeds/001 as the serverless deployment serves them: every request through
the API function (Mangum), every email through the outbox function to a real SMTP server,
every decision through the authorizer function, on DynamoDB (AWS's DynamoDB Local).

Flow 1, invitation: invite into a team, the email, the preview, the acceptance as a new user,
the team membership and the audit trail. Flow 2, team management: a team of no members, a
member added and made LEAD, the count kept, another organisation's member shut out. Flow 3,
authorization: the member's token allowed on a team's route with the context API Gateway
passes on, decided again from the warm function. Flow 4, role assignment: a custom role
granted and its permission then taken away, the next decision denying with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.aws import authorizer as authorizer_function
from tenantry.aws import outbox as outbox_function
from tests.aws_events import LambdaContext, method_arn, rest_token_event
from tests.harness import PASSWORD, unique_email, unique_slug
from tests.integration.test_lambda_handlers import call_api, lambda_environment
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.parametrize("store_target", ["dynamo"], indirect=True)

__all__ = ["lambda_environment"]  # a fixture, reused

ROUTES_USED = {  # as test_lambda_handlers.ROUTES names them
    "publish": ("POST", "/sites/s1/publish"),
    "org": ("GET", "/orgs/{org}"),
}


def mailed_link(smtp_server: SmtpServer, email: str, marker: str) -> str:
    """The secret of the last link to `email` whose path has `marker`, sent by the outbox
    function."""
    outbox_function.handler({"source": "aws.events"}, LambdaContext())
    mails = [m for m in smtp_server.messages if m["To"] == email]
    assert mails, f"no email to {email}"
    body = mails[-1].get_body(preferencelist=("plain",))
    assert body is not None
    secret: str = body.get_content().split(marker)[1].split()[0]
    return secret


def signed_up(smtp_server: SmtpServer, name: str) -> dict[str, Any]:
    """A verified account, signed in: its email and tokens."""
    email = unique_email(name.lower())
    assert (
        call_api("POST", "/v1/auth/signup", {"email": email, "password": PASSWORD, "name": name})[0]
        == 202
    )
    token = mailed_link(smtp_server, email, "/verify-email?token=")
    assert call_api("POST", "/v1/auth/verify-email", {"token": token})[0] == 200
    status, tokens = call_api("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, tokens
    return {"email": email, **tokens}


def owner_of_an_org(smtp_server: SmtpServer) -> tuple[dict[str, Any], str]:
    """An owner with a token for their new organisation, and the organisation's id."""
    owner = signed_up(smtp_server, "Owner")
    status, org = call_api(
        "POST",
        "/v1/organisations",
        {"name": "Serverless", "slug": unique_slug()},
        owner["access_token"],
    )
    assert status == 201, org
    status, switched = call_api(
        "POST",
        "/v1/auth/refresh",
        {"refresh_token": owner["refresh_token"], "organisation_id": org["id"]},
    )
    assert status == 200, switched
    return {**owner, **switched}, org["id"]


def actions(org_id: str, token: str) -> list[str]:
    status, page = call_api(
        "GET", f"/v1/organisations/{org_id}/audit-events?limit=100", token=token
    )
    assert status == 200, page
    return [event["action"] for event in page["items"]]


def decide(token: str, method: str, path: str) -> dict[str, Any]:
    answer: dict[str, Any] = authorizer_function.handler(
        rest_token_event(token, method, path), LambdaContext()
    )
    return answer


def effect(answer: dict[str, Any]) -> tuple[str, list[str]]:
    [only] = answer["policyDocument"]["Statement"]
    return only["Effect"], only["Resource"]


def test_flow_1_an_invitation_into_a_team_is_accepted_by_a_new_user(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    owner, org_id = owner_of_an_org(smtp_server)
    token = owner["access_token"]
    team = call_api("POST", f"/v1/organisations/{org_id}/teams", {"name": "Docs"}, token)[1]
    email = unique_email("invitee")

    made = call_api(
        "POST",
        f"/v1/organisations/{org_id}/invitations",
        {"email": email, "team_id": team["id"]},
        token,
    )
    secret = mailed_link(smtp_server, email, "/invitations/")
    preview = call_api("GET", f"/v1/invitations/{secret}")
    accepted = call_api(
        "POST", f"/v1/invitations/{secret}/accept", {"name": "Ivy", "password": PASSWORD}
    )
    members = call_api("GET", f"/v1/organisations/{org_id}/teams/{team['id']}/members", token=token)
    shown = call_api("GET", f"/v1/organisations/{org_id}/invitations/{made[1]['id']}", token=token)

    assert (made[0], made[1]["status"]) == (201, "PENDING")
    assert (preview[0], preview[1]["status"]) == (200, "PENDING")
    assert accepted[0] == 200, accepted
    joined = accepted[1]["tokens"]["access_token"]
    me = call_api("GET", "/v1/me", token=joined)[1]
    assert [m["user_id"] for m in members[1]["items"]] == [me["id"]]
    assert shown[1]["status"] == "ACCEPTED"
    assert {"team.create", "invitation.create", "invitation.accept"} <= set(actions(org_id, token))


def test_flow_2_a_team_counts_its_members_and_keeps_other_organisations_out(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    owner, org_id = owner_of_an_org(smtp_server)
    token = owner["access_token"]
    member = invited_member(smtp_server, owner, org_id)
    stranger, stranger_org = owner_of_an_org(smtp_server)
    made = call_api("POST", f"/v1/organisations/{org_id}/teams", {"name": "Platform"}, token)
    team_path = f"/v1/organisations/{org_id}/teams/{made[1]['id']}"

    added = call_api(
        "POST", f"{team_path}/members", {"user_id": member["id"], "team_role": "MEMBER"}, token
    )
    promoted = call_api(
        "PATCH", f"{team_path}/members/{member['id']}", {"team_role": "LEAD"}, token
    )
    counted = call_api("GET", team_path, token=token)
    shut_out = call_api("GET", team_path, token=stranger["access_token"])

    assert (made[0], made[1]["member_count"]) == (201, 0)
    assert (added[0], promoted[0]) == (201, 200), (added, promoted)
    assert promoted[1]["team_role"] == "LEAD"
    assert counted[1]["member_count"] == 1
    assert shut_out[0] == 404
    assert {"team.create", "team.member_add", "team.member_role"} <= set(actions(org_id, token))
    assert "team.create" not in actions(stranger_org, stranger["access_token"])


def test_flow_3_a_members_token_is_allowed_on_its_teams_route_with_its_context(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    owner, org_id = owner_of_an_org(smtp_server)
    member = invited_member(smtp_server, owner, org_id)
    team = call_api(
        "POST", f"/v1/organisations/{org_id}/teams", {"name": "Web"}, owner["access_token"]
    )[1]
    call_api(
        "POST",
        f"/v1/organisations/{org_id}/teams/{team['id']}/members",
        {"user_id": member["id"], "team_role": "MEMBER"},
        owner["access_token"],
    )
    member_token = refreshed(member)

    first = decide(member_token, "GET", f"/orgs/{org_id}")
    warm = authorizer_function._warm
    again = decide(member_token, "GET", f"/orgs/{org_id}")

    assert effect(first) == ("Allow", [method_arn("GET", f"/orgs/{org_id}")])
    context = first["context"]
    assert (context["userId"], context["orgId"], context["orgRole"]) == (
        member["id"],
        org_id,
        "MEMBER",
    )
    assert context["teamIds"].split(",") == [team["id"]]
    assert "organisation:read" in context["permissions"].split(",")
    assert effect(again) == effect(first)
    assert authorizer_function._warm is warm  # the keys and the store kept across calls


def test_flow_4_a_role_granted_then_narrowed_allows_then_denies_with_the_reason(
    lambda_environment: dict[str, str], smtp_server: SmtpServer
) -> None:
    owner, org_id = owner_of_an_org(smtp_server)
    token = owner["access_token"]
    member = invited_member(smtp_server, owner, org_id)
    role = call_api(
        "POST",
        f"/v1/organisations/{org_id}/roles",
        {
            "name": "Publisher",
            "permissions": ["site:publish", "site:read"],
            "scope": "ORGANISATION",
            "description": "",
        },
        token,
    )
    assigned = call_api(
        "PUT",
        f"/v1/organisations/{org_id}/members/{member['id']}/roles/{role[1]['id']}",
        token=token,
    )
    member_token = refreshed(member)
    allowed = decide(member_token, *ROUTES_USED["publish"])

    narrowed = call_api(
        "PATCH",
        f"/v1/organisations/{org_id}/roles/{role[1]['id']}",
        {"permissions": ["site:read"]},
        token,
    )
    denied = decide(member_token, *ROUTES_USED["publish"])

    assert (role[0], assigned[0], narrowed[0]) == (201, 200, 200), (role, assigned, narrowed)
    assert effect(allowed)[0] == "Allow"
    assert effect(denied)[0] == "Deny"
    assert denied["context"]["reason"] == "no_matching_permission"
    assert {"role.create", "role.assign", "role.update"} <= set(actions(org_id, token))


def invited_member(smtp_server: SmtpServer, owner: dict[str, Any], org_id: str) -> dict[str, Any]:
    """A new member of the organisation, by invitation: their id, email and tokens."""
    email = unique_email("member")
    made = call_api(
        "POST", f"/v1/organisations/{org_id}/invitations", {"email": email}, owner["access_token"]
    )
    assert made[0] == 201, made
    secret = mailed_link(smtp_server, email, "/invitations/")
    status, accepted = call_api(
        "POST", f"/v1/invitations/{secret}/accept", {"name": "Mo", "password": PASSWORD}
    )
    assert status == 200, accepted
    tokens = accepted["tokens"]
    me = call_api("GET", "/v1/me", token=tokens["access_token"])[1]
    return {"id": me["id"], "email": email, **tokens}


def refreshed(account: dict[str, Any]) -> str:
    """A new access token for the account (its access as it is now)."""
    status, tokens = call_api(
        "POST", "/v1/auth/refresh", {"refresh_token": account["refresh_token"]}
    )
    assert status == 200, tokens
    account["refresh_token"] = tokens["refresh_token"]
    access: str = tokens["access_token"]
    return access
