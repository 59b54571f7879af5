"""Organisations: register, read, update, delete, list the caller's, list members."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from tenantry.access.checks import require_permission
from tenantry.access.epoch import bump_epoch
from tenantry.context import ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Invalid, NotFound, RateLimited
from tenantry.domain.ids import new_id
from tenantry.domain.model import (
    Membership,
    MembershipStatus,
    Organisation,
    OrgStatus,
    Page,
)
from tenantry.domain.names import clean_name
from tenantry.domain.org_settings import apply_patch
from tenantry.domain.organisations import change_status, ensure_usable, provisioning_job, revise
from tenantry.domain.paging import DEFAULT_PAGE_SIZE, check_page_size
from tenantry.domain.principal import Principal
from tenantry.domain.roles import OrgRole
from tenantry.domain.slugs import validate_slug
from tenantry.unit_of_work import UnitOfWork


def register_organisation(
    uow: UnitOfWork, deps: ServiceDeps, actor: Principal, *, owner_id: str, name: str, slug: str
) -> Organisation:
    """Create the organisation in PROVISIONING with its OWNER and the job that provisions it,
    in one transaction; the flow starts the job after the commit."""
    slug = validate_slug(slug)
    name = clean_name(name)
    now = deps.clock.now()
    org = Organisation(
        id=new_id("org"),
        slug=slug,
        name=name,
        status=OrgStatus.PROVISIONING,
        created_at=now,
        created_by=owner_id,
        status_changed_at=now,
    )
    uow.bind(org_id=org.id, user_id=owner_id)
    owner = uow.users.get(owner_id)
    if owner is None:
        raise NotFound("user not found", code="user_not_found")
    uow.users.require_exists(owner_id)
    require_registration_allowance(uow, deps, actor, owner_id, slug)
    uow.organisations.add(org)
    uow.memberships.add(
        Membership(
            org_id=org.id,
            user_id=owner_id,
            org_role=OrgRole.OWNER,
            status=MembershipStatus.ACTIVE,
            joined_at=now,
            email=owner.email,
            name=owner.name,
        )
    )
    uow.jobs.add(provisioning_job(org, actor.user_id, now))  # provisioning starts from this row
    uow.audit.append(
        organisation_event(actor, org.id, "organisation.create", {"slug": slug}), at=now
    )
    return org


def get_organisation(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str
) -> Organisation:
    org, _ = require_permission(
        uow,
        principal,
        org_id,
        "organisation:read",
        resource_type="organisation",
        resource_id=org_id,
    )
    return org


def update_organisation(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Organisation:
    """Rename and patch settings (shallow merge, None deletes a key). Everything is checked
    before the write (`clean_name`, `org_settings.apply_patch`), and what is returned is what
    was written, so the edge can render it after the commit without a way to fail."""
    org, _ = require_permission(
        uow,
        principal,
        org_id,
        "organisation:update",
        resource_type="organisation",
        resource_id=org_id,
    )
    ensure_usable(org)
    if name is None and settings is None:
        return org  # nothing to change, nothing to record
    changed = revise(
        org,
        name=clean_name(name) if name is not None else org.name,
        settings=apply_patch(org.settings, settings) if settings is not None else org.settings,
    )
    uow.organisations.update(changed, expected_version=org.version)
    details = {
        "fields": sorted(
            k for k, v in {"name": name, "settings": settings}.items() if v is not None
        )
    }
    uow.audit.append(
        organisation_event(principal, org_id, "organisation.update", details), at=deps.clock.now()
    )
    return changed


def delete_organisation(
    uow: UnitOfWork, deps: ServiceDeps, principal: Principal, org_id: str
) -> Organisation:
    """Soft delete: the row stays for the audit trail; a new authz epoch and the DELETED
    status end every membership, role, assignment and team's effect at once (tokens for the
    org are refused, no snapshot is built for it), without rewriting their rows."""
    org, access = require_permission(
        uow,
        principal,
        org_id,
        "organisation:delete",
        resource_type="organisation",
        resource_id=org_id,
    )
    now = deps.clock.now()
    epoch = bump_epoch(uow, access)
    deleted = change_status(org, OrgStatus.DELETED, at=now, deleted_at=now, authz_epoch=epoch)
    uow.organisations.update(deleted, expected_version=org.version)
    uow.audit.append(
        organisation_event(
            principal, org_id, "organisation.delete", {"authz_epoch": deleted.authz_epoch}
        ),
        at=now,
    )
    return deleted


def list_my_organisations(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[tuple[Organisation, Membership]]:
    """The caller's active memberships of organisations that are not deleted, by join time,
    then organisation id.

    A page is one page of memberships (`limit` of them) less those of deleted organisations,
    which the store cannot leave out (a membership does not know its organisation's status):
    it may be short, even empty, while `next_cursor` still leads to the rest.
    """
    check_page_size(limit)
    uow.bind(user_id=principal.user_id)
    page = uow.memberships.list_for_user(principal.user_id, limit=limit, cursor=cursor)
    orgs = {org.id: org for org in uow.organisations.get_many([m.org_id for m in page.items])}
    pairs = [
        (orgs[m.org_id], m)
        for m in page.items
        if m.org_id in orgs and orgs[m.org_id].status is not OrgStatus.DELETED
    ]
    return Page(pairs, page.next_cursor)


def list_members(
    uow: UnitOfWork,
    deps: ServiceDeps,
    principal: Principal,
    org_id: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Membership]:
    require_permission(
        uow, principal, org_id, "member:read", resource_type="organisation", resource_id=org_id
    )
    if not 1 <= limit <= 200:
        raise Invalid("limit must be between 1 and 200", code="invalid_limit")
    return uow.memberships.list_members(org_id, limit=limit, cursor=cursor)


REGISTRATION_WINDOW = timedelta(days=1)


def require_registration_allowance(
    uow: UnitOfWork, deps: ServiceDeps, actor: Principal, owner_id: str, slug: str
) -> None:
    """A user registers at most `max_organisations_per_user_per_day` organisations in any 24
    hours (deleted ones count); else 429 `organisation_limit_reached`, audited, with the wait
    until the oldest of them leaves the window. An operator (the CLI) is not limited.

    A read, not a precondition: registrations racing each other may pass the cap by the
    racers."""
    if actor.actor_type is not ActorType.USER:
        return
    now, cap = deps.clock.now(), deps.policy.max_organisations_per_user_per_day
    recent = uow.memberships.list_joined_as_owner_since(
        owner_id, since=now - REGISTRATION_WINDOW, limit=cap
    )
    if len(recent) < cap:
        return
    wait = recent[0].joined_at + REGISTRATION_WINDOW - now
    raise RateLimited(
        f"at most {cap} organisations may be registered in 24 hours",
        code="organisation_limit_reached",
        retry_after=max(1, math.ceil(wait.total_seconds())),
        audit=AuditDraft(
            event_type=EventType.ORGANISATION,
            action="organisation.create",
            outcome=Outcome.DENIED,
            actor_id=actor.user_id,
            actor_type=actor.actor_type,
            resource_type="organisation",
            reason="organisation_limit_reached",
            details={"slug": slug, "limit": cap},
        ),
    )


def live_organisation_or_raise(uow: UnitOfWork, org_id: str) -> Organisation:
    org = uow.organisations.get(org_id)
    if org is None or org.status is OrgStatus.DELETED:
        raise NotFound("organisation not found", code="organisation_not_found")
    return org


def organisation_event(
    actor: Principal,
    org_id: str,
    action: str,
    details: dict[str, Any] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str | None = None,
) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.ORGANISATION,
        action=action,
        outcome=outcome,
        org_id=org_id,
        actor_id=actor.user_id,
        actor_type=actor.actor_type,
        resource_type="organisation",
        resource_id=org_id,
        reason=reason,
        details=dict(details or {}),
    )


ORG_ID_PREFIX = "org_"


def resolve_organisation(uow: UnitOfWork, ref: str) -> Organisation:
    """The organisation `ref` names, by its id (`org_…`) or its slug (slugs have no `_`),
    whatever its status: the use case that follows decides what a deleted one allows. Binds
    the unit of work to it. None: 404 `organisation_not_found`.

    For an operator's edge (the CLI), which names organisations before any is bound; not
    audited, as there is no organisation to record the miss in."""
    org_id = ref if ref.startswith(ORG_ID_PREFIX) else uow.organisations.get_id_by_slug(ref)
    if org_id is not None:
        uow.bind(org_id=org_id)
        org = uow.organisations.get(org_id)
        if org is not None:
            return org
    raise NotFound("organisation not found", code="organisation_not_found")
