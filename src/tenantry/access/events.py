"""The audit event of an access change: what changed, with before and after in `details`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from tenantry.access.checks import denied
from tenantry.context import ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Forbidden, NotFound, TenantryError
from tenantry.domain.principal import Principal
from tenantry.unit_of_work import UnitOfWork


def access_event(
    principal: Principal,
    org_id: str,
    event_type: EventType,
    action: str,
    *,
    resource_type: str,
    resource_id: str,
    epoch: int,
    before: Any = None,
    after: Any = None,
    **details: Any,
) -> AuditDraft:
    """`epoch` is the organisation's authz epoch the change committed."""
    return AuditDraft(
        event_type=event_type,
        action=action,
        outcome=Outcome.SUCCESS,
        org_id=org_id,
        actor_id=principal.user_id,
        actor_type=principal.actor_type,
        resource_type=resource_type,
        resource_id=resource_id,
        details={"before": before, "after": after, "authz_epoch": epoch, **details},
    )


P = ParamSpec("P")
T = TypeVar("T")
AccessUseCase = Callable[Concatenate[UnitOfWork, ServiceDeps, Principal, str, P], T]


def refusals_audited(
    action: str, resource_type: str, event_type: EventType
) -> Callable[[AccessUseCase[P, T]], AccessUseCase[P, T]]:
    """Every refusal of an access use case is on record: one that carries no event of its own
    (a 404 for a role that does not exist, a 409 for a duplicate, a 422 for a bad team role)
    gets one in the caller's organisation, DENIED for 403 and 404, FAILURE otherwise, with the
    code as its reason. A lost race on the epoch is not a refusal: the edge runs it again.

    The use case's first argument after the organisation id, when it is one, names the
    resource (the role, team or member acted on); else the organisation does."""

    def decorate(use_case: AccessUseCase[P, T]) -> AccessUseCase[P, T]:
        @functools.wraps(use_case)
        def run(
            uow: UnitOfWork,
            deps: ServiceDeps,
            principal: Principal,
            org_id: str,
            /,
            *args: P.args,
            **kwargs: P.kwargs,
        ) -> T:
            try:
                return use_case(uow, deps, principal, org_id, *args, **kwargs)
            except TenantryError as error:
                if error.audit is None and error.code != "access_changed":
                    resource_id = args[0] if args and isinstance(args[0], str) else org_id
                    # A user's refusal is on record in their own organisation (the one asked
                    # about may be another); the operator's in the one it acted on.
                    operator = principal.actor_type is ActorType.SYSTEM
                    scope = org_id if operator else principal.org_id
                    error.audit = _refusal(
                        principal, scope, error, action, resource_type, resource_id, event_type
                    )
                    if isinstance(kwargs.get("user_id"), str):  # whom a team change was for
                        error.audit.details["user_id"] = kwargs["user_id"]
                raise

        return run

    return decorate


def _refusal(
    principal: Principal,
    org_id: str | None,
    error: TenantryError,
    action: str,
    resource_type: str,
    resource_id: str,
    event_type: EventType,
) -> AuditDraft:
    refused = isinstance(error, Forbidden | NotFound)
    return denied(
        principal,
        org_id,
        action,
        resource_type,
        resource_id[:40],
        error.code,
        event_type=EventType.AUTHORIZATION if refused else event_type,
        outcome=Outcome.DENIED if refused else Outcome.FAILURE,
    )
