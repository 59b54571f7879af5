"""`TenantryClient`: tenantry's v1 API over httpx, blocking.

Each method is a builder of `calls_*` run by `_run`: its parameters, defaults and docstring
are the builder's (`blocking`), so the signature is written once for both clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import count
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

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


def blocking(build: Callable[P, Call[T]]) -> Callable[Concatenate[TenantryClient, P], T]:
    """The method that sends what `build` makes and answers with what it reads."""

    def method(client: TenantryClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return client._run(build(*args, **kwargs))

    return named_for(method, build, "TenantryClient")


class TenantryClient:
    """One connection pool to one tenantry; thread-safe as httpx is. Refusals raise
    `tenantry.client.TenantryProblem` subclasses; a tenantry that cannot be reached raises
    `Unavailable` with code `unreachable`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: Retries | None = None,
        trust_env: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, trust_env=trust_env, transport=transport
        )
        self._retries = retries or Retries()

    def __enter__(self) -> TenantryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """The tenantry this client talks to, as given."""
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()

    # sign-up, the emailed links, sign-in
    signup = blocking(calls_account.signup)
    verify_email = blocking(calls_account.verify_email)
    resend_verification = blocking(calls_account.resend_verification)
    request_password_reset = blocking(calls_account.request_password_reset)
    confirm_password_reset = blocking(calls_account.confirm_password_reset)
    login = blocking(calls_account.login)
    refresh = blocking(calls_account.refresh)
    logout = blocking(calls_account.logout)
    # the caller
    me = blocking(calls_account.me)
    change_password = blocking(calls_account.change_password)
    list_sessions = blocking(calls_account.list_sessions)
    revoke_session = blocking(calls_account.revoke_session)
    revoke_all_sessions = blocking(calls_account.revoke_all_sessions)
    my_teams = blocking(calls_account.my_teams)
    # the authorizer and discovery
    authorize = blocking(calls_account.authorize)
    jwks = blocking(calls_account.jwks)
    openid_configuration = blocking(calls_account.openid_configuration)
    # organisations and members
    create_organisation = blocking(calls_org.create_organisation)
    list_organisations = blocking(calls_org.list_organisations)
    get_organisation = blocking(calls_org.get_organisation)
    update_organisation = blocking(calls_org.update_organisation)
    delete_organisation = blocking(calls_org.delete_organisation)
    retry_provisioning = blocking(calls_org.retry_provisioning)
    list_members = blocking(calls_org.list_members)
    change_org_role = blocking(calls_org.change_org_role)
    remove_member = blocking(calls_org.remove_member)
    member_permissions = blocking(calls_org.member_permissions)
    transfer_ownership = blocking(calls_org.transfer_ownership)
    # roles
    list_roles = blocking(calls_access.list_roles)
    create_role = blocking(calls_access.create_role)
    get_role = blocking(calls_access.get_role)
    update_role = blocking(calls_access.update_role)
    preview_role_update = blocking(calls_access.preview_role_update)
    delete_role = blocking(calls_access.delete_role)
    assign_role = blocking(calls_access.assign_role)
    unassign_role = blocking(calls_access.unassign_role)
    # teams
    list_teams = blocking(calls_access.list_teams)
    create_team = blocking(calls_access.create_team)
    get_team = blocking(calls_access.get_team)
    update_team = blocking(calls_access.update_team)
    delete_team = blocking(calls_access.delete_team)
    list_team_members = blocking(calls_access.list_team_members)
    add_team_member = blocking(calls_access.add_team_member)
    change_team_role = blocking(calls_access.change_team_role)
    remove_team_member = blocking(calls_access.remove_team_member)
    # the audit log
    list_audit_events = blocking(calls_audit.list_audit_events)
    export_audit_events = blocking(calls_audit.export_audit_events)
    get_audit_event = blocking(calls_audit.get_audit_event)
    verify_audit_chain = blocking(calls_audit.verify_audit_chain)
    create_invitation = blocking(calls_invitations.create_invitation)
    bulk_invite = blocking(calls_invitations.bulk_invite)
    list_invitations = blocking(calls_invitations.list_invitations)
    get_invitation = blocking(calls_invitations.get_invitation)
    resend_invitation = blocking(calls_invitations.resend_invitation)
    revoke_invitation = blocking(calls_invitations.revoke_invitation)
    preview_invitation = blocking(calls_invitations.preview_invitation)
    accept_invitation = blocking(calls_invitations.accept_invitation)
    # anything else
    request = blocking(calls.request)

    def _run(self, call: Call[T]) -> T:
        for retry in count():
            try:
                response = self._http.send(call.request(self._http))
            except httpx.TransportError as error:
                wait = self._retries.delay(call, retry, error)
                if wait is None:
                    raise calls.unreachable(error) from error
            else:
                wait = self._retries.delay(call, retry, response)
                if wait is None:
                    return call.answer(response)
                response.close()
            time.sleep(wait)
        raise AssertionError("unreachable: count() never ends")
