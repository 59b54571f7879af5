"""Every method of `tenantry.client` against a real `tenantry serve` process (one per store
for the module), through the blocking client and through the async one: each scenario runs
once with `TenantryClient` and once with `AsyncTenantryClient`, whose coroutines are awaited
on an event loop of their own (`AwaitedOnAPortal`). What the server stored is read back
through the client or through tenantry's repositories on the same store.

The emailed links (sign-up, verification, password reset) need the mail: those scenarios
get a server of their own whose outbox the test delivers to a real SMTP sink."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import jwt
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.client import (
    AsyncTenantryClient,
    AuditEvent,
    Authorization,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    Member,
    MyOrganisation,
    NotFound,
    Organisation,
    Page,
    Retries,
    Role,
    Team,
    TeamMember,
    TenantryClient,
    Unauthorized,
    Written,
    calls_access,
    calls_account,
    calls_audit,
    calls_invitations,
    calls_org,
)
from tenantry.client.calls import Call
from tenantry.domain.model import MembershipStatus, OrgStatus
from tenantry.domain.organisations import revise
from tests.access_builders import (
    stored_assignments,
    stored_epoch,
    stored_role,
    stored_team,
    stored_team_members,
)
from tests.harness import (
    PASSWORD,
    Mailbox,
    StoreTarget,
    test_settings,
    unique_email,
    unique_slug,
)
from tests.org_builders import stored_membership, stored_organisation
from tests.servers import (
    Served,
    add_membership,
    environment,
    operator_made_user,
    ready,
    serving,
)
from tests.smtp_server import SmtpServer

FAST = Retries(count=2, backoff=0.01)
NEW_PASSWORD = "a different horse battery staple"


class AwaitedOnAPortal:
    """The async client's methods, each awaited on the portal's event loop and answered
    here, so that a scenario written for the blocking client runs through the async one."""

    def __init__(self, client: AsyncTenantryClient, portal: BlockingPortal) -> None:
        self._client = client
        self._portal = portal

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def awaited(*args: Any, **kwargs: Any) -> Any:
            return self._portal.call(functools.partial(method, *args, **kwargs))

        return awaited


CLIENTS = ["sync", "async"]


@contextmanager
def a_client(kind: str, base: str) -> Iterator[TenantryClient]:
    """`TenantryClient`, or (`async`) `AsyncTenantryClient` on an event loop of its own."""
    if kind == "sync":
        with TenantryClient(base, trust_env=False, retries=FAST) as client:
            yield client
        return
    with start_blocking_portal() as portal:
        opened = portal.call(lambda: AsyncTenantryClient(base, trust_env=False, retries=FAST))
        try:
            yield cast(TenantryClient, AwaitedOnAPortal(opened, portal))
        finally:
            portal.call(opened.aclose)


@pytest.fixture(params=CLIENTS)
def tenantry(request: pytest.FixtureRequest, server: Served) -> Iterator[TenantryClient]:
    with a_client(request.param, server.base) as client:
        yield client


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    token: str  # an access token: for the organisation it was asked for, or account-level


def a_person(server: Served, tenantry: TenantryClient, org_id: str | None = None) -> Person:
    """A verified user made by the operator, signed in (and first made an active member of
    `org_id`, through the store, as invitations are not the subject here)."""
    email = unique_email("person")
    user_id = operator_made_user(server.tenantry, email)
    if org_id is not None:
        add_membership(server.tenantry, org_id, user_id, email)
    return Person(user_id, email, tenantry.login(email, PASSWORD, org_id).access_token)


@dataclass(frozen=True)
class Org:
    id: str
    owner: Person  # signed in to the organisation
    member: Person


def an_org(server: Served, tenantry: TenantryClient) -> Org:
    """An organisation registered through the client by its owner, with one member."""
    founder = a_person(server, tenantry)
    made = tenantry.create_organisation(founder.token, "Acme", unique_slug())
    owner = tenantry.login(founder.email, PASSWORD, organisation_id=made.id)
    member = a_person(server, tenantry, made.id)
    return Org(made.id, Person(founder.user_id, founder.email, owner.access_token), member)


def every_page(read: Callable[[str | None], Page[Any]]) -> list[Page[Any]]:
    """The pages of a list, following `next_cursor` from the first."""
    pages = [read(None)]
    while pages[-1].next_cursor is not None:
        pages.append(read(pages[-1].next_cursor))
    return pages


# --- the two clients ------------------------------------------------------------------------


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"}


def test_both_clients_have_the_same_methods_with_the_same_parameters() -> None:
    blocking = public_methods(TenantryClient) - {"close"}
    awaiting = public_methods(AsyncTenantryClient) - {"aclose"}

    assert blocking == awaiting
    for name in blocking:
        sync_method = getattr(TenantryClient, name)
        async_method = getattr(AsyncTenantryClient, name)
        assert inspect.iscoroutinefunction(async_method), name
        assert not inspect.iscoroutinefunction(sync_method), name
        assert inspect.signature(sync_method) == inspect.signature(async_method), name


def builders() -> dict[str, Callable[..., Call[Any]]]:
    """Every endpoint's builder, by name."""
    return {
        name: build
        for module in (calls_account, calls_org, calls_access, calls_audit, calls_invitations)
        for name, build in inspect.getmembers(module, inspect.isfunction)
        if build.__module__ == module.__name__ and name[0] != "_"
    }


def placeholder_call(build: Callable[..., Call[Any]]) -> Call[Any]:
    """The builder's call with each required parameter given as `{its name}`, as OpenAPI
    writes a path parameter."""
    required = [p for p in inspect.signature(build).parameters.values() if p.default is p.empty]
    return build(**{p.name: f"{{{p.name}}}" for p in required})


def operation(build: Callable[..., Call[Any]]) -> tuple[str, str]:
    """The method and path template a builder's call goes to."""
    call = placeholder_call(build)
    return call.method, unquote(call.path)


def test_every_v1_and_discovery_operation_has_a_method_of_its_own(
    server: Served, tenantry: TenantryClient
) -> None:
    document = tenantry.request("GET", "/openapi.json")

    served = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if path.startswith(("/v1/", "/.well-known/"))
    }
    covered = {operation(build) for build in builders().values()}
    assert covered == served
    assert set(builders()) | {"request"} == public_methods(TenantryClient) - {"close"}


SENT_ONCE = {  # the POSTs and PATCHes that write: a 503 or a broken connection is not retried
    "signup",
    "verify_email",
    "resend_verification",
    "request_password_reset",
    "confirm_password_reset",
    "login",
    "refresh",
    "logout",
    "change_password",
    "create_organisation",
    "update_organisation",
    "retry_provisioning",
    "change_org_role",
    "transfer_ownership",
    "create_role",
    "update_role",
    "create_team",
    "update_team",
    "add_team_member",
    "change_team_role",
    "create_invitation",
    "bulk_invite",
    "resend_invitation",
    "accept_invitation",
}


def test_only_the_calls_that_may_be_sent_twice_are_retried() -> None:
    retried = {name for name, build in builders().items() if placeholder_call(build).retryable}

    assert retried == set(builders()) - SENT_ONCE
    assert {"authorize", "preview_role_update"} <= retried  # a POST and a PATCH that read
    assert {placeholder_call(builders()[name]).method for name in SENT_ONCE} == {"POST", "PATCH"}


# --- discovery ------------------------------------------------------------------------------


def test_the_jwks_verifies_an_access_token_the_discovery_document_names(
    server: Served, tenantry: TenantryClient
) -> None:
    person = a_person(server, tenantry)

    jwks = tenantry.jwks()
    discovery = tenantry.openid_configuration()

    kid = jwt.get_unverified_header(person.token)["kid"]
    key = jwks.key(kid)
    assert key is not None
    assert (key.use, key.body["kid"]) == ("sig", kid)
    claims = jwt.decode(
        person.token,
        jwt.PyJWK.from_dict(key.body).key,
        algorithms=[key.alg],
        issuer=discovery.issuer,
        options={"verify_aud": False},
    )
    assert claims["sub"] == person.user_id
    assert discovery.jwks_uri.endswith("/.well-known/jwks.json")
    assert discovery.token_endpoint.endswith("/v1/auth/login")
    assert set(discovery.id_token_signing_alg_values_supported) == {k.alg for k in jwks.keys}
    assert {"sub", "org_id", "org_role"} <= set(discovery.claims_supported)


# --- sign-in and the caller's sessions ------------------------------------------------------


def test_sessions_are_listed_page_by_page_and_end_one_by_one_or_all_at_once(
    server: Served, tenantry: TenantryClient
) -> None:
    person = a_person(server, tenantry)
    laptop = tenantry.login(person.email, PASSWORD)
    phone = tenantry.refresh(tenantry.login(person.email, PASSWORD).refresh_token)

    pages = every_page(
        lambda cursor: tenantry.list_sessions(laptop.access_token, limit=1, cursor=cursor)
    )
    sessions = [session for page in pages for session in page.items]
    [current] = [s.id for s in sessions if s.current]
    others = [s.id for s in sessions if not s.current]
    for session_id in others:
        tenantry.revoke_session(laptop.access_token, session_id)
    left = tenantry.list_sessions(laptop.access_token)

    assert [len(page.items) for page in pages] == [1, 1, 1]
    newest_first = sorted((s.created_at for s in sessions), reverse=True)
    assert [s.created_at for s in sessions] == newest_first
    assert all(s.organisation_id is None and s.expires_at > s.created_at for s in sessions)
    assert len(others) == 2
    assert [s.id for s in left.items] == [current]
    assert left.next_cursor is None
    for ended in (phone.access_token, person.token):
        with pytest.raises(Unauthorized):
            tenantry.me(ended)
    with pytest.raises(NotFound) as missing:
        tenantry.revoke_session(laptop.access_token, others[0])
    assert missing.value.code == "session_not_found"

    tenantry.revoke_all_sessions(laptop.access_token)

    with pytest.raises(Unauthorized):
        tenantry.me(laptop.access_token)


def test_logout_ends_the_session_and_the_one_of_the_refresh_token_given(
    server: Served, tenantry: TenantryClient
) -> None:
    person = a_person(server, tenantry)
    other = tenantry.login(person.email, PASSWORD)
    me = tenantry.me(person.token)

    tenantry.logout(person.token, refresh_token=other.refresh_token)

    assert (me.id, me.email, me.email_verified, me.organisation_id) == (
        person.user_id,
        person.email,
        True,
        None,
    )
    for token in (person.token, other.access_token):
        with pytest.raises(Unauthorized):
            tenantry.me(token)
    with pytest.raises(Unauthorized):
        tenantry.refresh(other.refresh_token)


def test_a_password_change_keeps_this_session_and_ends_the_others(
    server: Served, tenantry: TenantryClient
) -> None:
    person = a_person(server, tenantry)
    elsewhere = tenantry.login(person.email, PASSWORD)

    with pytest.raises(Forbidden) as wrong:
        tenantry.change_password(person.token, "not the password at all", NEW_PASSWORD)
    tenantry.change_password(person.token, PASSWORD, NEW_PASSWORD)

    assert wrong.value.code == "invalid_current_password"
    assert tenantry.me(person.token).id == person.user_id
    with pytest.raises(Unauthorized):
        tenantry.me(elsewhere.access_token)
    with pytest.raises(Unauthorized):
        tenantry.login(person.email, PASSWORD)
    assert tenantry.login(person.email, NEW_PASSWORD).access_token


def test_signing_up_is_accepted_without_saying_whether_the_email_has_an_account(
    server: Served, tenantry: TenantryClient
) -> None:
    email = unique_email("new")

    first = tenantry.signup(email, PASSWORD, "Ada")
    again = tenantry.signup(email, PASSWORD, "Ada")

    assert (first, again) == (None, None)
    with server.tenantry.store.unit_of_work() as uow:
        user = uow.users.get_by_email(email)
    assert user is not None
    assert (user.name, user.is_verified) == ("Ada", False)
    with pytest.raises(Invalid) as weak:
        tenantry.signup(unique_email("weak"), "short", "Bob")
    assert weak.value.code == "weak_password"


# --- organisations --------------------------------------------------------------------------


def test_an_organisation_is_registered_listed_read_updated_and_deleted(
    server: Served, tenantry: TenantryClient
) -> None:
    founder = a_person(server, tenantry)
    slug = unique_slug()
    made = tenantry.create_organisation(founder.token, "Acme", slug)
    second = tenantry.create_organisation(founder.token, "Beta", unique_slug())
    owner = tenantry.login(founder.email, PASSWORD, organisation_id=made.id).access_token

    pages = every_page(
        lambda cursor: tenantry.list_organisations(founder.token, limit=1, cursor=cursor)
    )
    read = tenantry.get_organisation(owner, made.id)
    renamed = tenantry.update_organisation(
        owner, made.id, name="Acme Ltd", settings={"a": 1, "b": 2}
    )
    pruned = tenantry.update_organisation(owner, made.id, settings={"b": None})

    assert isinstance(made, Organisation)
    assert (made.slug, made.name, made.status, made.settings) == (slug, "Acme", "ACTIVE", {})
    assert (made.provisioning_step, made.provisioning_error) == (None, None)
    listed = [org for page in pages for org in page.items]
    assert all(isinstance(org, MyOrganisation) for org in listed)
    assert sorted((org.id, org.org_role) for org in listed) == sorted(
        [(made.id, "OWNER"), (second.id, "OWNER")]
    )
    assert read == made
    assert (renamed.name, renamed.settings) == ("Acme Ltd", {"a": 1, "b": 2})
    assert (pruned.name, pruned.settings) == ("Acme Ltd", {"a": 1})
    assert tenantry.get_organisation(owner, made.id) == pruned
    with pytest.raises(Conflict) as taken:
        tenantry.create_organisation(founder.token, "Copy", slug)
    assert taken.value.code == "slug_taken"
    with pytest.raises(Conflict) as provisioned:
        tenantry.retry_provisioning(owner, made.id)  # it did not fail
    assert provisioned.value.code == "invalid_organisation_state"

    deleted = tenantry.delete_organisation(owner, made.id)

    stored = stored_organisation(server.tenantry, made.id)
    assert stored is not None
    assert (stored.status, stored.authz_epoch) == (OrgStatus.DELETED, deleted.epoch)
    assert (deleted.value, deleted.body) == (None, {})
    with pytest.raises(Unauthorized):
        tenantry.get_organisation(owner, made.id)  # tokens for it stop working at once
    assert [o.id for o in tenantry.list_organisations(founder.token).items] == [second.id]


def failed_provisioning(tenantry: Tenantry, org_id: str) -> None:
    """The organisation left as a failed provisioning step leaves it (the steps themselves
    are code the server process would have to load)."""
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        org = uow.organisations.get(org_id)
        assert org is not None
        failed = revise(
            org, status=OrgStatus.FAILED, provisioning_step="billing", provisioning_error="Down"
        )
        uow.organisations.update(failed, expected_version=org.version)
        uow.commit()


def test_a_failed_provisioning_is_retried_until_the_organisation_is_active(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    failed_provisioning(server.tenantry, org.id)
    before = tenantry.get_organisation(org.owner.token, org.id)

    with pytest.raises(Forbidden):
        tenantry.retry_provisioning(org.member.token, org.id)
    retried = tenantry.retry_provisioning(org.owner.token, org.id)

    assert (before.status, before.provisioning_step, before.provisioning_error) == (
        "FAILED",
        "billing",
        "Down",
    )
    assert (retried.id, retried.status, retried.provisioning_step) == (org.id, "ACTIVE", None)
    stored = stored_organisation(server.tenantry, org.id)
    assert stored is not None
    assert stored.status is OrgStatus.ACTIVE


def test_another_organisation_is_not_found_and_a_member_may_not_update(
    server: Served, tenantry: TenantryClient
) -> None:
    org, elsewhere = an_org(server, tenantry), an_org(server, tenantry)

    with pytest.raises(NotFound) as other:
        tenantry.get_organisation(org.owner.token, elsewhere.id)
    with pytest.raises(Forbidden) as member:
        tenantry.update_organisation(org.member.token, org.id, name="Hijacked")
    with pytest.raises(Invalid) as bad:
        tenantry.update_organisation(org.owner.token, org.id, settings={"": 1})

    assert (other.value.status, other.value.code) == (404, "organisation_not_found")
    assert (member.value.status, member.value.code) == (403, "permission_denied")
    assert bad.value.code == "invalid_settings"
    assert tenantry.get_organisation(org.owner.token, org.id).name == "Acme"


# --- members --------------------------------------------------------------------------------


def test_members_are_paged_promoted_and_handed_the_organisation(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    third = a_person(server, tenantry, org.id)

    pages = every_page(
        lambda cursor: tenantry.list_members(org.owner.token, org.id, limit=2, cursor=cursor)
    )
    promoted = tenantry.change_org_role(org.owner.token, org.id, org.member.user_id, "ADMIN")
    permissions = tenantry.member_permissions(org.owner.token, org.id, org.member.user_id)
    handed = tenantry.transfer_ownership(org.owner.token, org.id, org.member.user_id)

    members = [m for page in pages for m in page.items]
    assert [len(page.items) for page in pages] == [2, 1]
    assert [(m.user_id, m.email, m.org_role, m.status) for m in members] == [
        (org.owner.user_id, org.owner.email, "OWNER", "ACTIVE"),
        (org.member.user_id, org.member.email, "MEMBER", "ACTIVE"),
        (third.user_id, third.email, "MEMBER", "ACTIVE"),
    ]
    assert isinstance(promoted.value, Member)
    assert (promoted.value.user_id, promoted.value.org_role) == (org.member.user_id, "ADMIN")
    assert (permissions.user_id, permissions.organisation_id, permissions.org_role) == (
        org.member.user_id,
        org.id,
        "ADMIN",
    )
    assert permissions.epoch == promoted.epoch
    assert {(p.grant, p.team_id) for p in permissions.permissions} == {("org_role:ADMIN", None)}
    assert (handed.value.user_id, handed.value.org_role) == (org.member.user_id, "OWNER")
    assert handed.epoch == stored_epoch(server.tenantry, org.id) > promoted.epoch
    roles = {m.user_id: m.org_role for m in tenantry.list_members(org.owner.token, org.id).items}
    assert roles == {
        org.owner.user_id: "ADMIN",
        org.member.user_id: "OWNER",
        third.user_id: "MEMBER",
    }


def test_a_member_is_removed_another_leaves_and_the_last_owner_stays(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    leaver = a_person(server, tenantry, org.id)

    with pytest.raises(Forbidden) as own:
        tenantry.change_org_role(org.owner.token, org.id, org.owner.user_id, "ADMIN")
    with pytest.raises(Invalid) as unknown:
        tenantry.change_org_role(org.owner.token, org.id, org.member.user_id, "KING")
    removed = tenantry.remove_member(org.owner.token, org.id, org.member.user_id)
    left = tenantry.remove_member(leaver.token, org.id, leaver.user_id)
    with pytest.raises(Conflict) as last:
        tenantry.remove_member(org.owner.token, org.id, org.owner.user_id)

    assert own.value.code == "cannot_change_own_role"
    assert unknown.value.code == "validation_failed"
    assert last.value.code == "last_owner"
    assert (removed.value, left.value) == (None, None)
    assert removed.epoch < left.epoch == stored_epoch(server.tenantry, org.id)
    for user_id in (org.member.user_id, leaver.user_id):
        membership = stored_membership(server.tenantry, org.id, user_id)
        assert membership is not None
        assert membership.status is MembershipStatus.ENDED
    listed = tenantry.list_members(org.owner.token, org.id).items
    assert [m.user_id for m in listed] == [org.owner.user_id]


# --- roles ----------------------------------------------------------------------------------


def test_a_role_is_made_edited_previewed_assigned_and_deleted(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    owner, member = org.owner.token, org.member

    made = tenantry.create_role(owner, org.id, "Editor", ["site:read"], description="Edits")
    given = tenantry.assign_role(owner, org.id, member.user_id, made.id)
    preview = tenantry.preview_role_update(owner, org.id, made.id, permissions=["site:update"])
    unchanged = tenantry.get_role(owner, org.id, made.id)
    edited = tenantry.update_role(
        owner, org.id, made.id, name="Site editor", permissions=["site:read", "site:update"]
    )
    listed = tenantry.list_roles(owner, org.id)

    assert isinstance(made.value, Role)
    assert (made.value.name, made.value.description, made.value.scope) == (
        "Editor",
        "Edits",
        "ORGANISATION",
    )
    assert (made.value.permissions, made.value.updated_at) == (("site:read",), None)
    assert (given.value.user_id, given.value.role_id, given.value.assigned_by) == (
        member.user_id,
        made.id,
        org.owner.user_id,
    )
    assert [a.role_id for a in stored_assignments(server.tenantry, org.id, member.user_id)] == [
        made.id
    ]
    assert preview.dry_run is True
    assert preview.role.permissions == ("site:update",)
    assert [(c.user_id, c.team_id, c.gained, c.lost) for c in preview.changes] == [
        (member.user_id, None, ("site:update",), ("site:read",))
    ]
    assert unchanged == made.value  # the dry run wrote nothing
    assert (edited.value.name, edited.value.permissions) == (
        "Site editor",
        ("site:read", "site:update"),
    )
    assert edited.value.updated_at is not None
    assert listed == (edited.value,)
    assert made.epoch < given.epoch < edited.epoch == stored_epoch(server.tenantry, org.id)

    taken_back = tenantry.unassign_role(owner, org.id, member.user_id, made.id)
    deleted = tenantry.delete_role(owner, org.id, made.id)

    assert stored_assignments(server.tenantry, org.id, member.user_id) == []
    assert stored_role(server.tenantry, org.id, made.id) is None
    assert taken_back.epoch < deleted.epoch == stored_epoch(server.tenantry, org.id)
    with pytest.raises(NotFound) as gone:
        tenantry.get_role(owner, org.id, made.id)
    assert gone.value.code == "role_not_found"
    assert tenantry.list_roles(owner, org.id) == ()


def test_roles_refuse_bad_permissions_taken_names_and_members_without_the_right(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    reader = tenantry.create_role(org.owner.token, org.id, "Reader", ["site:read"])

    with pytest.raises(Invalid) as pattern:
        tenantry.create_role(org.owner.token, org.id, "Bad", ["Site:Read"])
    with pytest.raises(Conflict) as taken:
        tenantry.create_role(org.owner.token, org.id, "reader", ["site:read"])
    with pytest.raises(Forbidden) as member:
        tenantry.create_role(org.member.token, org.id, "Mine", ["site:read"])
    with pytest.raises(Forbidden) as self_given:
        tenantry.assign_role(org.owner.token, org.id, org.owner.user_id, reader.id)

    assert (pattern.value.code, pattern.value.body["permission"]) == (
        "invalid_permission",
        "Site:Read",
    )
    assert taken.value.code == "role_name_taken"
    assert member.value.code == "permission_denied"
    assert self_given.value.status == 403
    assert [r.name for r in tenantry.list_roles(org.owner.token, org.id)] == ["Reader"]


# --- teams ----------------------------------------------------------------------------------


def test_a_team_is_made_filled_reshaped_and_deleted(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    owner, member = org.owner.token, org.member
    other = a_person(server, tenantry, org.id)
    reviewer = tenantry.create_role(owner, org.id, "Reviewer", ["site:review"], scope="TEAM")

    web = tenantry.create_team(owner, org.id, "Web", description="The site")
    docs = tenantry.create_team(owner, org.id, "Docs")
    lead = tenantry.add_team_member(owner, org.id, web.id, member.user_id, "LEAD")
    joined = tenantry.add_team_member(owner, org.id, web.id, other.user_id)
    changed = tenantry.change_team_role(owner, org.id, web.id, other.user_id, reviewer.id)
    renamed = tenantry.update_team(owner, org.id, web.id, name="Website")
    team_pages = every_page(
        lambda cursor: tenantry.list_teams(owner, org.id, limit=1, cursor=cursor)
    )
    member_pages = every_page(
        lambda cursor: tenantry.list_team_members(owner, org.id, web.id, limit=1, cursor=cursor)
    )

    assert isinstance(web.value, Team)
    assert (web.value.name, web.value.description, web.value.member_count) == (
        "Web",
        "The site",
        0,
    )
    assert isinstance(lead.value, TeamMember)
    assert (lead.value.user_id, lead.value.team_role, joined.value.team_role) == (
        member.user_id,
        "LEAD",
        "MEMBER",
    )
    assert (changed.value.user_id, changed.value.team_role) == (other.user_id, reviewer.id)
    assert (renamed.value.name, renamed.value.description, renamed.value.member_count) == (
        "Website",
        "The site",
        2,
    )
    assert tenantry.get_team(owner, org.id, web.id) == renamed.value
    assert [t.id for page in team_pages for t in page.items] == [web.id, docs.id]
    members = [m for page in member_pages for m in page.items]
    assert [(m.user_id, m.email, m.team_role) for m in members] == [
        (member.user_id, member.email, "LEAD"),
        (other.user_id, other.email, reviewer.id),
    ]
    assert tenantry.my_teams(member.token) == (renamed.value,)
    assert renamed.epoch == stored_epoch(server.tenantry, org.id)

    removed = tenantry.remove_team_member(owner, org.id, web.id, other.user_id)
    left = tenantry.remove_team_member(member.token, org.id, web.id, member.user_id)

    assert stored_team_members(server.tenantry, org.id, web.id) == []
    assert removed.epoch < left.epoch
    assert tenantry.my_teams(member.token) == ()

    deleted = tenantry.delete_team(owner, org.id, web.id)

    assert stored_team(server.tenantry, org.id, web.id) is None
    assert deleted.epoch == stored_epoch(server.tenantry, org.id)
    with pytest.raises(NotFound) as gone:
        tenantry.get_team(owner, org.id, web.id)
    assert gone.value.code == "team_not_found"
    assert [t.id for t in tenantry.list_teams(owner, org.id).items] == [docs.id]


def test_teams_refuse_taken_names_members_without_the_right_and_strangers(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    stranger = a_person(server, tenantry)
    web = tenantry.create_team(org.owner.token, org.id, "Web")

    with pytest.raises(Conflict) as taken:
        tenantry.create_team(org.owner.token, org.id, "WEB")
    with pytest.raises(Forbidden) as member:
        tenantry.create_team(org.member.token, org.id, "Mine")
    with pytest.raises(NotFound) as outsider:
        tenantry.add_team_member(org.owner.token, org.id, web.id, stranger.user_id)
    with pytest.raises(Invalid) as role:
        tenantry.add_team_member(org.owner.token, org.id, web.id, org.member.user_id, "boss")

    assert taken.value.code == "team_name_taken"
    assert member.value.code == "permission_denied"
    assert outsider.value.code == "member_not_found"
    assert role.value.code == "invalid_team_role"
    assert [t.name for t in tenantry.list_teams(org.owner.token, org.id).items] == ["Web"]
    assert tenantry.list_team_members(org.owner.token, org.id, web.id).items == ()


def test_the_audit_log_is_listed_filtered_exported_read_and_verified(
    server: Served, tenantry: TenantryClient
) -> None:
    org = an_org(server, tenantry)
    web = tenantry.create_team(org.owner.token, org.id, "Web")
    with pytest.raises(Forbidden) as member:
        tenantry.list_audit_events(org.member.token, org.id)

    newest = tenantry.list_audit_events(org.owner.token, org.id, limit=1)
    about_web = tenantry.list_audit_events(
        org.owner.token, org.id, resource_type="team", resource_id=web.id
    )
    refused = tenantry.list_audit_events(org.owner.token, org.id, outcome="DENIED")
    exported = AuditEvent.lines(tenantry.export_audit_events(org.owner.token, org.id))
    one = tenantry.get_audit_event(org.owner.token, org.id, exported[-1].event_id)
    report = tenantry.verify_audit_chain(org.owner.token, org.id)

    assert member.value.code == "permission_denied"
    assert newest.next_cursor is not None
    assert [e.action for e in about_web.items] == ["team.create"]
    assert [(e.actor_id, e.action) for e in refused.items] == [(org.member.user_id, "audit:read")]
    assert [e.seq for e in exported] == list(range(1, len(exported) + 1))
    assert exported[-1] == one == refused.items[0] == newest.items[0]
    assert (report.ok, report.head_seq, report.first_break) == (True, len(exported), None)
    with pytest.raises(NotFound) as elsewhere:
        tenantry.get_audit_event(org.member.token, "org_" + "0" * 26, one.event_id)
    assert elsewhere.value.code == "organisation_not_found"


def test_any_other_call_is_reached_with_request(server: Served, tenantry: TenantryClient) -> None:
    person = a_person(server, tenantry)

    body = tenantry.request("GET", "/v1/me", token=person.token)
    nothing = tenantry.request("POST", "/v1/auth/logout", token=person.token)

    assert (body["id"], body["email"]) == (person.user_id, person.email)
    assert nothing == {}
    with pytest.raises(NotFound):
        tenantry.request("GET", "/v1/nowhere")


# --- the async client, awaited directly -----------------------------------------------------


def test_the_async_client_builds_access_and_reads_it_back(server: Served) -> None:
    founder_email, member_email = unique_email("founder"), unique_email("member")
    founder_id = operator_made_user(server.tenantry, founder_email)
    member_id = operator_made_user(server.tenantry, member_email)

    async def scenario() -> tuple[Organisation, Written[Member], list[str], Authorization]:
        async with AsyncTenantryClient(server.base, trust_env=False, retries=FAST) as client:
            account = await client.login(founder_email, PASSWORD)
            org = await client.create_organisation(account.access_token, "Acme", unique_slug())
            add_membership(server.tenantry, org.id, member_id, member_email)
            owner = (await client.login(founder_email, PASSWORD, org.id)).access_token
            role = await client.create_role(owner, org.id, "Publisher", ["site:publish"])
            await client.assign_role(owner, org.id, member_id, role.id)
            promoted = await client.change_org_role(owner, org.id, member_id, "ADMIN")
            first = await client.list_members(owner, org.id, limit=1)
            rest = await client.list_members(owner, org.id, cursor=first.next_cursor)
            member = await client.login(member_email, PASSWORD, org.id)
            answer = await client.authorize(
                member.access_token, org.id, "site:publish", min_epoch=promoted.epoch
            )
            with pytest.raises(NotFound):
                await client.get_role(owner, org.id, "rol_missing")
            return org, promoted, [m.user_id for m in (*first.items, *rest.items)], answer

    org, promoted, ids, answer = asyncio.run(scenario())

    assert ids == [founder_id, member_id]
    assert (promoted.value.user_id, promoted.value.org_role) == (member_id, "ADMIN")
    assert promoted.epoch == stored_epoch(server.tenantry, org.id)
    assert (answer.allowed, answer.org_role, answer.epoch) == (True, "ADMIN", promoted.epoch)


# --- the emailed links, on a server whose mail the test delivers -----------------------------


@dataclass(frozen=True)
class MailingServer:
    served: Served
    mailbox: Mailbox  # delivers the server's outbox to the SMTP sink, and reads the links


@pytest.fixture
def mailing_server(
    store_target: StoreTarget, tmp_path: Path, smtp_server: SmtpServer
) -> Iterator[MailingServer]:
    """A real `tenantry serve` that tells whether a sign-up's email is taken (201 and 409),
    and runs no outbox dispatcher of its own, so that the test delivers the mail through the
    same store with a real SMTP mailer when it wants the links. (A dispatcher in the server,
    even an idle one, drains whatever other tests left in a shared PostgreSQL at start, and
    could hold this test's email in flight when the test reads the mailbox.)"""
    settings = test_settings(
        store_target,
        tmp_path,
        mailer="smtp",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        signup_reveals_existing=True,
        serve_dispatches_outbox=False,
    )
    in_process = bootstrap(settings)
    prepare_to_serve(in_process)  # the signing keys exist before the server starts
    try:
        with serving(environment(settings), tmp_path / "server") as started:
            served = Served(ready(*started), store_target, in_process)
            yield MailingServer(served, Mailbox(in_process, smtp_server))
    finally:
        in_process.close()


def links_mailed(mailbox: Mailbox, address: str, link: str) -> list[str]:
    """The plain-text bodies mailed to `address` that hold `link`."""
    bodies = [m.get_body(preferencelist=("plain",)) for m in mailbox.messages_to(address)]
    texts = [body.get_content() for body in bodies if body is not None]
    return [text for text in texts if link in text]


@pytest.mark.parametrize("kind", CLIENTS)
def test_an_account_signs_up_verifies_its_email_and_resets_its_password(
    mailing_server: MailingServer, kind: str
) -> None:
    email, mailbox = unique_email("ada"), mailing_server.mailbox
    with a_client(kind, mailing_server.served.base) as tenantry:
        made = tenantry.signup(email, PASSWORD, "Ada")
        with pytest.raises(Conflict) as taken:
            tenantry.signup(email, PASSWORD, "Ada again")
        tenantry.resend_verification(email)
        verified = tenantry.verify_email(mailbox.last_link_token(email, "/verify-email"))
        with pytest.raises(Gone) as used:
            tenantry.verify_email(mailbox.last_link_token(email, "/verify-email"))
        signed_in = tenantry.login(email, PASSWORD)
        tenantry.request_password_reset(email)
        reset = mailbox.last_link_token(email, "/reset-password")
        tenantry.confirm_password_reset(reset, NEW_PASSWORD)
        with pytest.raises(Gone):
            tenantry.confirm_password_reset(reset, "yet another horse battery")
        with pytest.raises(Unauthorized):
            tenantry.login(email, PASSWORD)
        with pytest.raises(Unauthorized):
            tenantry.me(signed_in.access_token)  # a reset ends every session
        me = tenantry.me(tenantry.login(email, NEW_PASSWORD).access_token)

    assert made is not None
    assert (made.email, made.name, made.email_verified) == (email, "Ada", False)
    assert taken.value.code == "email_taken"
    assert len(links_mailed(mailbox, email, "/verify-email?token=")) == 2  # sign-up, resend
    assert (verified.id, verified.email_verified) == (made.id, True)
    assert used.value.status == 410
    assert (me.id, me.email_verified, me.created_at) == (made.id, True, made.created_at)


@pytest.mark.parametrize("kind", CLIENTS)
def test_an_invitation_is_made_listed_resent_previewed_accepted_and_revoked(
    mailing_server: MailingServer, kind: str
) -> None:
    server, mailbox = mailing_server.served, mailing_server.mailbox
    email, other = unique_email("ivy"), unique_email("otto")
    with a_client(kind, server.base) as tenantry:
        org = an_org(server, tenantry)
        owner = org.owner.token
        made = tenantry.create_invitation(owner, org.id, email, org_role="ADMIN")
        resent = tenantry.resend_invitation(owner, org.id, made.value.id)
        mailed = links_mailed(mailbox, email, "/invitations/")
        token = mailbox.last_invitation_token(email)
        preview = tenantry.preview_invitation(token)
        accepted = tenantry.accept_invitation(token, name="Ivy", password=PASSWORD)
        with pytest.raises(Conflict) as again:
            tenantry.accept_invitation(token, name="Ivy", password=PASSWORD)
        dry = tenantry.bulk_invite(
            owner, org.id, [{"email": other}, {"email": email}], dry_run=True
        )
        second = tenantry.create_invitation(owner, org.id, other)
        revoked = tenantry.revoke_invitation(owner, org.id, second.value.id)
        listed = tenantry.list_invitations(owner, org.id, status="ACCEPTED")
        read = tenantry.get_invitation(owner, org.id, made.value.id)

    assert made.value.status == "PENDING"
    assert made.epoch > 0
    assert resent.resend_count == 1
    assert len(mailed) == 2  # the invitation, and the resend with a new link
    assert (preview.organisation_name, preview.org_role, preview.status) == (
        "Acme",
        "ADMIN",
        "PENDING",
    )
    assert accepted.invitation.status == "ACCEPTED"
    assert accepted.tokens.organisation_id == org.id
    assert again.value.code == "invitation_accepted"
    assert (dry.value.written, [r.status for r in dry.value.rows]) == (
        False,
        ["created", "already_member"],
    )
    assert revoked.status == "REVOKED"
    assert [i.id for i in listed.items] == [made.value.id]
    assert read.accepted_by == accepted.invitation.accepted_by
