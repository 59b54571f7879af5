"""`AsyncTenantryClient`: tenantry's v1 API over httpx, for asyncio and trio (anyio).

Method for method the same as `sync.TenantryClient`: what is sent and how the answer is read
live in `calls_*`, whose builders are the methods' signatures (`awaiting`); only the waiting
differs here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from itertools import count
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import httpx

from tenantry.client import (
    calls,
    calls_access,
    calls_account,
    calls_audit,
    calls_invitations,
    calls_org,
)
from tenantry.client.calls import DEFAULT_TIMEOUT, Call, Retries, named_for

P = ParamSpec("P")
T = TypeVar("T")


def awaiting(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncTenantryClient, P], Coroutine[Any, Any, T]]:
    """The coroutine method that sends what `build` makes and answers with what it reads."""

    async def method(client: AsyncTenantryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await client._run(build(*args, **kwargs))

    return named_for(method, build, "AsyncTenantryClient")


class AsyncTenantryClient:
    """One connection pool to one tenantry, used from one event loop (as httpx.AsyncClient
    is). Refusals raise `tenantry.client.TenantryProblem` subclasses; a tenantry that cannot
    be reached raises `Unavailable` with code `unreachable`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: Retries | None = None,
        trust_env: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, trust_env=trust_env, transport=transport
        )
        self._retries = retries or Retries()

    async def __aenter__(self) -> AsyncTenantryClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def base_url(self) -> str:
        """The tenantry this client talks to, as given."""
        return str(self._http.base_url)

    async def aclose(self) -> None:
        await self._http.aclose()

    # sign-up, the emailed links, sign-in
    signup = awaiting(calls_account.signup)
    verify_email = awaiting(calls_account.verify_email)
    resend_verification = awaiting(calls_account.resend_verification)
    request_password_reset = awaiting(calls_account.request_password_reset)
    confirm_password_reset = awaiting(calls_account.confirm_password_reset)
    login = awaiting(calls_account.login)
    refresh = awaiting(calls_account.refresh)
    logout = awaiting(calls_account.logout)
    # the caller
    me = awaiting(calls_account.me)
    change_password = awaiting(calls_account.change_password)
    list_sessions = awaiting(calls_account.list_sessions)
    revoke_session = awaiting(calls_account.revoke_session)
    revoke_all_sessions = awaiting(calls_account.revoke_all_sessions)
    my_teams = awaiting(calls_account.my_teams)
    # the authorizer and discovery
    authorize = awaiting(calls_account.authorize)
    jwks = awaiting(calls_account.jwks)
    openid_configuration = awaiting(calls_account.openid_configuration)
    # organisations and members
    create_organisation = awaiting(calls_org.create_organisation)
    list_organisations = awaiting(calls_org.list_organisations)
    get_organisation = awaiting(calls_org.get_organisation)
    update_organisation = awaiting(calls_org.update_organisation)
    delete_organisation = awaiting(calls_org.delete_organisation)
    retry_provisioning = awaiting(calls_org.retry_provisioning)
    list_members = awaiting(calls_org.list_members)
    change_org_role = awaiting(calls_org.change_org_role)
    remove_member = awaiting(calls_org.remove_member)
    member_permissions = awaiting(calls_org.member_permissions)
    transfer_ownership = awaiting(calls_org.transfer_ownership)
    # roles
    list_roles = awaiting(calls_access.list_roles)
    create_role = awaiting(calls_access.create_role)
    get_role = awaiting(calls_access.get_role)
    update_role = awaiting(calls_access.update_role)
    preview_role_update = awaiting(calls_access.preview_role_update)
    delete_role = awaiting(calls_access.delete_role)
    assign_role = awaiting(calls_access.assign_role)
    unassign_role = awaiting(calls_access.unassign_role)
    # teams
    list_teams = awaiting(calls_access.list_teams)
    create_team = awaiting(calls_access.create_team)
    get_team = awaiting(calls_access.get_team)
    update_team = awaiting(calls_access.update_team)
    delete_team = awaiting(calls_access.delete_team)
    list_team_members = awaiting(calls_access.list_team_members)
    add_team_member = awaiting(calls_access.add_team_member)
    change_team_role = awaiting(calls_access.change_team_role)
    remove_team_member = awaiting(calls_access.remove_team_member)
    # the audit log
    list_audit_events = awaiting(calls_audit.list_audit_events)
    export_audit_events = awaiting(calls_audit.export_audit_events)
    get_audit_event = awaiting(calls_audit.get_audit_event)
    verify_audit_chain = awaiting(calls_audit.verify_audit_chain)
    create_invitation = awaiting(calls_invitations.create_invitation)
    bulk_invite = awaiting(calls_invitations.bulk_invite)
    list_invitations = awaiting(calls_invitations.list_invitations)
    get_invitation = awaiting(calls_invitations.get_invitation)
    resend_invitation = awaiting(calls_invitations.resend_invitation)
    revoke_invitation = awaiting(calls_invitations.revoke_invitation)
    preview_invitation = awaiting(calls_invitations.preview_invitation)
    accept_invitation = awaiting(calls_invitations.accept_invitation)
    # anything else
    request = awaiting(calls.request)

    async def _run(self, call: Call[T]) -> T:
        for retry in count():
            try:
                response = await self._http.send(call.request(self._http))
            except httpx.TransportError as error:
                wait = self._retries.delay(call, retry, error)
                if wait is None:
                    raise calls.unreachable(error) from error
            else:
                wait = self._retries.delay(call, retry, response)
                if wait is None:
                    return call.answer(response)
                await response.aclose()
            await anyio.sleep(wait)
        raise AssertionError("unreachable: count() never ends")
