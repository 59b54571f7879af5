"""Builders for access-model tests (roles, teams, members) through the HTTP API, and readers
of what the store holds afterwards (through tenantry's repositories, scoped as the services
scope them)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, TypedDict, cast

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import EventType, Outcome
from tenantry.domain.roles import OrgRole, Role, RoleAssignment
from tenantry.domain.teams import Team, TeamMembership
from tests.harness import Account, Api, StoreTarget, audit_events

EPOCH = "Tenantry-Authz-Epoch"


def org_path(account: Account, *rest: str) -> str:
    assert account.org_id is not None, "the account's token is not for an organisation"
    return "/".join([f"/v1/organisations/{account.org_id}", *rest])


def create_role(
    api: Api,
    account: Account,
    name: str,
    permissions: list[str],
    *,
    scope: str = "ORGANISATION",
    description: str = "",
) -> Any:
    body = {"name": name, "permissions": permissions, "scope": scope, "description": description}
    return api.client.post(org_path(account, "roles"), json=body, headers=account.auth)


def made_role(api: Api, account: Account, name: str, permissions: list[str], **kw: Any) -> str:
    """Create a role that must be created; its id."""
    response = create_role(api, account, name, permissions, **kw)
    assert response.status_code == 201, response.text
    role_id: str = response.json()["id"]
    return role_id


def assign(api: Api, account: Account, user_id: str, role_id: str) -> Any:
    path = org_path(account, "members", user_id, "roles", role_id)
    return api.client.put(path, headers=account.auth)


def unassign(api: Api, account: Account, user_id: str, role_id: str) -> Any:
    path = org_path(account, "members", user_id, "roles", role_id)
    return api.client.delete(path, headers=account.auth)


def create_team(api: Api, account: Account, name: str) -> Any:
    return api.client.post(org_path(account, "teams"), json={"name": name}, headers=account.auth)


def made_team(api: Api, account: Account, name: str) -> str:
    response = create_team(api, account, name)
    assert response.status_code == 201, response.text
    team_id: str = response.json()["id"]
    return team_id


def add_to_team(
    api: Api, account: Account, team_id: str, user_id: str, team_role: str = "MEMBER"
) -> Any:
    return api.client.post(
        org_path(account, "teams", team_id, "members"),
        json={"user_id": user_id, "team_role": team_role},
        headers=account.auth,
    )


def set_org_role(api: Api, account: Account, user_id: str, org_role: str) -> Any:
    return api.client.patch(
        org_path(account, "members", user_id), json={"org_role": org_role}, headers=account.auth
    )


def permissions_of(api: Api, account: Account, user_id: str) -> Any:
    return api.client.get(
        org_path(account, "members", user_id, "permissions"), headers=account.auth
    )


def held(api: Api, account: Account, user_id: str) -> set[str]:
    """The patterns `user_id` holds organisation-wide, as the API reports them."""
    response = permissions_of(api, account, user_id)
    assert response.status_code == 200, response.text
    return {p["permission"] for p in response.json()["permissions"] if p["team_id"] is None}


def stored_epoch(tenantry: Tenantry, org_id: str) -> int:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        org = uow.organisations.get(org_id)
    assert org is not None
    return org.authz_epoch


def stored_assignments(tenantry: Tenantry, org_id: str, user_id: str) -> list[RoleAssignment]:
    with tenantry.store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        return uow.role_assignments.list_for_member(org_id, user_id)


def stored_team(tenantry: Tenantry, org_id: str, team_id: str) -> Team | None:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return uow.teams.get(org_id, team_id)


def stored_team_members(tenantry: Tenantry, org_id: str, team_id: str) -> list[TeamMembership]:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return uow.team_memberships.all_for_team(org_id, team_id)


# --- added for the role, team and member flow tests ----------------------------------------


def epoch_of(response: Any) -> int:
    """The `Tenantry-Authz-Epoch` an access change answered with."""
    return int(response.headers[EPOCH])


def get_role(api: Api, account: Account, role_id: str) -> Any:
    return api.client.get(org_path(account, "roles", role_id), headers=account.auth)


def patch_role(
    api: Api, account: Account, role_id: str, body: dict[str, Any], *, dry_run: bool = False
) -> Any:
    return api.client.patch(
        org_path(account, "roles", role_id),
        json=body,
        params={"dry_run": "true"} if dry_run else None,
        headers=account.auth,
    )


def delete_role(api: Api, account: Account, role_id: str) -> Any:
    return api.client.delete(org_path(account, "roles", role_id), headers=account.auth)


def stored_role(tenantry: Tenantry, org_id: str, role_id: str) -> Role | None:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return uow.roles.get(org_id, role_id)


def stored_roles(tenantry: Tenantry, org_id: str) -> list[Role]:
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        return uow.roles.list(org_id)


def set_team_role(api: Api, account: Account, team_id: str, user_id: str, team_role: str) -> Any:
    return api.client.patch(
        org_path(account, "teams", team_id, "members", user_id),
        json={"team_role": team_role},
        headers=account.auth,
    )


def remove_from_team(api: Api, account: Account, team_id: str, user_id: str) -> Any:
    path = org_path(account, "teams", team_id, "members", user_id)
    return api.client.delete(path, headers=account.auth)


def remove_member(api: Api, account: Account, user_id: str) -> Any:
    return api.client.delete(org_path(account, "members", user_id), headers=account.auth)


def joined(api: Api, account: Account, org_id: str, role: OrgRole = OrgRole.MEMBER) -> Account:
    """`account`'s user made a member of another organisation too (through the store, as
    `Api.member_of` does), signed in for it on a session of its own: `account` keeps its
    token for its first organisation."""
    api.add_membership(account, org_id, role)
    response = api.login(account.email, account.password, org_id=org_id)
    assert response.status_code == 200, response.text
    tokens = response.json()
    return Account(
        account.email,
        account.password,
        account.user_id,
        tokens["access_token"],
        tokens["refresh_token"],
        org_id=org_id,
    )


def grants_of(api: Api, account: Account, user_id: str) -> list[tuple[str, str, str | None]]:
    """`user_id`'s effective permissions as the API lists them: (permission, grant path,
    team id), in the API's order."""
    response = permissions_of(api, account, user_id)
    assert response.status_code == 200, response.text
    return [(p["permission"], p["grant"], p["team_id"]) for p in response.json()["permissions"]]


MEMBER_GRANTS = [
    ("member:read", "org_role:MEMBER", None),
    ("organisation:read", "org_role:MEMBER", None),
    ("team:read", "org_role:MEMBER", None),
]


Refusal = tuple[EventType, Outcome, str, str | None, str | None, str | None]


def refusals(store_target: StoreTarget, org_id: str, *, action: str | None = None) -> list[Refusal]:
    """The organisation's refusals on record (of `action`, when named), in a stable order:
    (event type, outcome, action, reason, resource id, organisation id)."""
    return sorted(
        (
            (e.event_type, e.outcome, e.action, e.reason, e.resource_id, e.org_id)
            for e in audit_events(store_target, org_id=org_id, action=action)
            if e.outcome is not Outcome.SUCCESS
        ),
        key=str,
    )


def successes(store_target: StoreTarget, org_id: str, action: str) -> list[str | None]:
    """The resources `action` succeeded on in the organisation, as recorded."""
    found = audit_events(store_target, org_id=org_id, action=action, outcome=Outcome.SUCCESS)
    return [e.resource_id for e in found]


# --- the authorizer's answers, and the conformance vectors (test_authorize, the client) -----

NO_MATCH = "no_matching_permission"
MEMBER_BUILT_INS = {permission for permission, _, _ in MEMBER_GRANTS}


def granted(permission: str, pattern: str, path: str, team_id: str | None = None) -> dict[str, Any]:
    """A decision that allows, as `explain` shows it."""
    grant = {"pattern": pattern, "path": path, "team_id": team_id}
    return {"permission": permission, "allowed": True, "reason": "granted", "grant": grant}


def denied(permission: str, reason: str = NO_MATCH) -> dict[str, Any]:
    return {"permission": permission, "allowed": False, "reason": reason, "grant": None}


def answer(
    user_id: str,
    org_id: str,
    *decisions: dict[str, Any],
    allowed: bool,
    org_role: str | None = None,
    team_ids: list[str] | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """The whole body of an answer (no standing in the organisation by default)."""
    return {
        "allowed": allowed,
        "decisions": list(decisions),
        "user_id": user_id,
        "organisation_id": org_id,
        "org_role": org_role,
        "team_ids": team_ids or [],
        "epoch": epoch,
    }


Denial = tuple[str, str | None, str | None, dict[str, Any]]


def denials(store_target: StoreTarget, org_id: str | None, user_id: str) -> list[Denial]:
    """`user_id`'s refusals on record in `org_id` (None: outside any organisation), oldest
    first: (permission, reason, resource id, details). All must be AUTHORIZATION events."""
    found = audit_events(store_target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    assert {e.event_type for e in found} <= {EventType.AUTHORIZATION}, found
    found.sort(key=lambda e: (e.occurred_at, e.action))
    return [(e.action, e.reason, e.resource_id, e.details) for e in found]


def details(org_id: str, suppressed: int = 0, team_id: str | None = None) -> dict[str, Any]:
    """The details of a denial: the organisation asked about, the team, how many left out."""
    recorded: dict[str, Any] = {"organisation_id": org_id, "suppressed": suppressed}
    if team_id is not None:
        recorded["team_id"] = team_id
    return recorded


def assert_one_denial(
    target: StoreTarget, org_id: str, user_id: str, permission: str, reason: str
) -> None:
    """The user's one denial on record in the organisation: `permission` refused for `reason`,
    asked about the organisation itself, none left out."""
    [event] = audit_events(target, org_id=org_id, actor_id=user_id, outcome=Outcome.DENIED)
    assert (event.event_type, event.action, event.reason, event.resource_type) == (
        EventType.AUTHORIZATION,
        permission,
        reason,
        "permission",
    )
    assert (event.resource_id, event.details) == (org_id, details(org_id))


def role_path(role_id: str, name: str) -> str:
    return f"role:{role_id}({name})"


class MatchCase(TypedDict):
    name: str
    granted: list[str]
    required: str
    allowed: bool
    matched: str | None


def match_vectors() -> list[MatchCase]:
    """The published `match` vectors, read from the installed package."""
    source = resources.files("tenantry.domain").joinpath("permission_vectors.json")
    return cast(list[MatchCase], json.loads(source.read_text(encoding="utf-8"))["match"])


def by_granted_set(cases: list[MatchCase]) -> dict[tuple[str, ...], list[MatchCase]]:
    groups: dict[tuple[str, ...], list[MatchCase]] = {}
    for case in cases:
        groups.setdefault(tuple(case["granted"]), []).append(case)
    return groups


# A MEMBER also holds the built-in MEMBER grants (exact permissions): a vector requiring one
# of them would be answered from that grant, not from the vector's set, so it is left out.
VECTORS = [case for case in match_vectors() if case["required"] not in MEMBER_BUILT_INS]
