"""Builders for access-model tests (roles, teams, members) through the HTTP API, and readers
of what the store holds afterwards (through tenantry's repositories, scoped as the services
scope them)."""

from __future__ import annotations

from typing import Any

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
