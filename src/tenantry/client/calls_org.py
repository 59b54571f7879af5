"""The calls about an organisation and its members (`/v1/organisations`, `.../members`,
`.../transfer-ownership`). Every one needs a token for the organisation it names, except
registering one and listing the caller's."""

from __future__ import annotations

from typing import Any

from tenantry.client.calls import (
    Call,
    given,
    org_path,
    page_of,
    paging,
    read_as,
    written_as,
    written_nothing,
)
from tenantry.client.models import Page, Written
from tenantry.client.models_org import Member, MemberPermissions, MyOrganisation, Organisation

# --- organisations --------------------------------------------------------------------------


def create_organisation(token: str, name: str, slug: str) -> Call[Organisation]:
    """The caller becomes its OWNER; the answer is the organisation after provisioning
    (`ACTIVE`, or `FAILED` naming the step). A slug is unique for ever (409 `slug_taken`)."""
    body = {"name": name, "slug": slug}
    return Call("POST", "/v1/organisations", read_as(Organisation.of), json=body, token=token)


def list_organisations(
    token: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[MyOrganisation]]:
    """The organisations the caller is an active member of, with the caller's role."""
    read = page_of(MyOrganisation.of)
    return Call("GET", "/v1/organisations", read, token=token, params=paging(limit, cursor))


def get_organisation(token: str, org_id: str) -> Call[Organisation]:
    return Call("GET", org_path(org_id), read_as(Organisation.of), token=token)


def update_organisation(
    token: str,
    org_id: str,
    *,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Call[Organisation]:
    """Rename it, or change its settings: they merge shallowly, a key set to None is
    removed. Left as None, either stays as it is."""
    body = given(name=name, settings=settings)
    return Call("PATCH", org_path(org_id), read_as(Organisation.of), json=body, token=token)


def delete_organisation(token: str, org_id: str) -> Call[Written[None]]:
    """OWNER only. Tokens for it stop working at once; its slug stays taken."""
    return Call("DELETE", org_path(org_id), written_nothing, token=token)


def retry_provisioning(token: str, org_id: str) -> Call[Organisation]:
    """Run a `FAILED` (or stalled) organisation's provisioning again."""
    path = org_path(org_id, "provisioning", "retry")
    return Call("POST", path, read_as(Organisation.of), token=token)


# --- members --------------------------------------------------------------------------------


def list_members(
    token: str, org_id: str, *, limit: int | None = None, cursor: str | None = None
) -> Call[Page[Member]]:
    """Active members by join time."""
    path, query = org_path(org_id, "members"), paging(limit, cursor)
    return Call("GET", path, page_of(Member.of), token=token, params=query)


def change_org_role(token: str, org_id: str, user_id: str, org_role: str) -> Call[Written[Member]]:
    """`org_role` is `OWNER`, `ADMIN` or `MEMBER`. Only an OWNER makes or demotes an OWNER;
    nobody changes their own role; the last OWNER stays (409 `last_owner`)."""
    path, body = org_path(org_id, "members", user_id), {"org_role": org_role}
    return Call("PATCH", path, written_as(Member.of), json=body, token=token)


def remove_member(token: str, org_id: str, user_id: str) -> Call[Written[None]]:
    """Remove a member, or leave: the caller's own `user_id`. The member's roles and team
    memberships end with it, and their tokens for the organisation stop working."""
    return Call("DELETE", org_path(org_id, "members", user_id), written_nothing, token=token)


def member_permissions(token: str, org_id: str, user_id: str) -> Call[MemberPermissions]:
    """Every grant the member holds and where it comes from (`member:read`, or the caller's
    own)."""
    path = org_path(org_id, "members", user_id, "permissions")
    return Call("GET", path, read_as(MemberPermissions.of), token=token)


def transfer_ownership(token: str, org_id: str, user_id: str) -> Call[Written[Member]]:
    """The member becomes OWNER and the calling OWNER becomes ADMIN, in one transaction;
    the answer is the new OWNER."""
    path, body = org_path(org_id, "transfer-ownership"), {"user_id": user_id}
    return Call("POST", path, written_as(Member.of), json=body, token=token)
