"""Identity links: the tenantry user behind a trusted issuer's token (`external_bearer`, which
links a subject on its first use by its verified email), and the operator's link, list and
unlink (`tenantry identity ...`)."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.accounts.email_address import normalise_email
from tenantry.accounts.service import account_event, resolve_user
from tenantry.context import ServiceDeps
from tenantry.domain.audit import ActorType, AuditDraft, Outcome
from tenantry.domain.errors import Conflict, Invalid, NotFound, TenantryError, Unauthenticated
from tenantry.domain.model import User
from tenantry.domain.principal import Principal
from tenantry.edge import ACCESS_CHANGED
from tenantry.identities.issuers import ExternalIdentity, Issuer, TrustedIssuers
from tenantry.identities.ports import MAX_SUBJECT_LENGTH, IdentityLink, LinkMethod
from tenantry.sessions.events import auth_event
from tenantry.settings import TrustedIssuer
from tenantry.tokens.compact import CompactJws
from tenantry.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ExternalBearer:
    """The tenantry user a trusted issuer's token is for, and the organisation it names."""

    user_id: str
    org_id: str | None


def external_bearer(
    uow: UnitOfWork, deps: ServiceDeps, issuers: TrustedIssuers, token: str
) -> ExternalBearer | None:
    """The bearer of a trusted issuer's token; None if its `iss` (read unverified) names no
    trusted issuer. A token that fails verification is `Unauthenticated` (`invalid_token`,
    `token_expired`); one whose subject is linked to nobody, and cannot be linked by its
    verified email, is `Unauthenticated` `identity_not_linked`; an issuer whose keys were never
    fetched and cannot be now is `Unavailable` `issuer_keys_unavailable`. Each is audited."""
    found = issuers.of_token(token)
    if found is None:
        return None
    issuer, read = found
    identity = _verified(issuer, token, read, deps)
    user_id = linked_user_id(uow, deps, issuer.settings, identity)
    return ExternalBearer(user_id, identity.org_id)


def linked_user_id(
    uow: UnitOfWork, deps: ServiceDeps, trusted: TrustedIssuer, identity: ExternalIdentity
) -> str:
    """The user the identity is linked to. Unlinked, it is linked on this first use to the
    user whose email it carries, if the issuer says it verified that email, the user verified
    it too, and the issuer links by email (`link_verified_email`)."""
    link = uow.identity_links.get(identity.issuer, identity.subject)
    if link is not None:
        return link.user_id
    user = _user_of_verified_email(uow, trusted, identity)
    if user is None:
        raise Unauthenticated(
            "the token's subject is linked to no tenantry user",
            code="identity_not_linked",
            audit=_token_refused("identity_not_linked", identity.issuer, identity.subject),
        )
    now = deps.clock.now()
    made = IdentityLink(identity.issuer, identity.subject, user.id, LinkMethod.VERIFIED_EMAIL, now)
    # Another first use of the subject may commit its link before this one: this check then
    # runs again (the edge retries `access_changed`) and finds that link, so one is made.
    lost_race = Conflict("the subject was linked meanwhile", code=ACCESS_CHANGED)
    uow.identity_links.add(made, on_conflict=lost_race)
    uow.audit.append(_link_event("identity.link", made, user.id, ActorType.USER), at=now)
    return user.id


def link_identity(
    uow: UnitOfWork,
    deps: ServiceDeps,
    actor: Principal,
    issuers: TrustedIssuers,
    *,
    issuer: str,
    subject: str,
    user_ref: str,
) -> IdentityLink:
    """Link a trusted issuer's subject to a user (an id `usr_…` or an email). Precondition:
    the subject is not linked yet (`Conflict` `identity_already_linked`)."""
    if issuers.get(issuer) is None:
        raise Invalid(f"{issuer} is not in TENANTRY_TRUSTED_ISSUERS", code="issuer_not_trusted")
    if not 0 < len(subject) <= MAX_SUBJECT_LENGTH or not subject.isprintable():
        raise Invalid(
            f"a subject has 1 to {MAX_SUBJECT_LENGTH} printable characters",
            code="invalid_subject",
        )
    user = resolve_user(uow, user_ref)
    now = deps.clock.now()
    link = IdentityLink(issuer, subject, user.id, LinkMethod.OPERATOR, now)
    uow.identity_links.add(link)
    uow.audit.append(_link_event("identity.link", link, actor.user_id, actor.actor_type), at=now)
    return link


def list_identity_links(
    uow: UnitOfWork,
    deps: ServiceDeps,
    actor: Principal,
    *,
    user_ref: str | None = None,
    after: tuple[str, str] | None = None,
    limit: int,
) -> list[IdentityLink]:
    """Up to `limit` links (of one user, given by id or email) by issuer, then subject; with
    `after`, those after that (issuer, subject)."""
    user_id = resolve_user(uow, user_ref).id if user_ref is not None else None
    return uow.identity_links.list(user_id=user_id, after=after, limit=limit)


def unlink_identity(
    uow: UnitOfWork, deps: ServiceDeps, actor: Principal, *, issuer: str, subject: str
) -> IdentityLink:
    """Remove a link (of any issuer, trusted or no longer); the link removed. A later token of
    the subject is linked again on first use if it carries a user's verified email."""
    link = uow.identity_links.get(issuer, subject)
    if link is None:
        raise _no_link()
    uow.identity_links.remove(link, on_conflict=_no_link())
    now = deps.clock.now()
    uow.audit.append(_link_event("identity.unlink", link, actor.user_id, actor.actor_type), at=now)
    return link


def _verified(issuer: Issuer, token: str, read: CompactJws, deps: ServiceDeps) -> ExternalIdentity:
    try:
        return issuer.verify(token, read, deps.clock.now())
    except TenantryError as error:
        error.audit = _token_refused(error.code, issuer.settings.issuer)
        raise


def _user_of_verified_email(
    uow: UnitOfWork, trusted: TrustedIssuer, identity: ExternalIdentity
) -> User | None:
    if not (trusted.link_verified_email and identity.email_verified and identity.email):
        return None
    try:
        email = normalise_email(identity.email)
    except Invalid:
        return None
    user = uow.users.get_by_email(email)
    # A tenantry account whose address was never verified may have been made by anyone: a
    # link to it would hand the issuer's user to whoever made it.
    return user if user is not None and user.is_verified else None


def _link_event(
    action: str, link: IdentityLink, actor_id: str, actor_type: ActorType
) -> AuditDraft:
    details: dict[str, object] = {
        "issuer": link.issuer,
        "subject": link.subject,
        "method": link.method.value,
    }
    return account_event(
        actor_id, action, resource_id=link.user_id, actor_type=actor_type, details=details
    )


def _token_refused(reason: str, issuer: str, subject: str | None = None) -> AuditDraft:
    return auth_event("auth.token", Outcome.FAILURE, None, reason, issuer=issuer, subject=subject)


def _no_link() -> NotFound:
    return NotFound("no such identity link", code="identity_link_not_found")
