"""The freshness hook: every change that can alter a decision bumps the organisation's
`authz_epoch` in its own transaction, and the edge returns the new epoch to the caller
(`Tenantry-Authz-Epoch`), so a later check can ask for state at least that fresh.

The bump expects the epoch the change's snapshot was read at. Two changes decided on the same
reads of one organisation's access can therefore never both commit: the second fails with
`access_changed`, and the edge runs it again on fresh reads. That is what keeps the last-owner
guard, escalation checks and team counts right under any concurrency, on every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from tenantry.domain.access import AccessSnapshot
from tenantry.store.conflicts import conflict
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    """What an access-changing use case returns: its result and the epoch it committed."""

    value: T
    epoch: int


def bump_epoch(uow: UnitOfWork, access: AccessSnapshot) -> int:
    """Make this the change's first write: a change that lost a race to another then always
    fails here, as `access_changed`, and is decided again on fresh reads (where its read
    checks refuse it with their own, audited, answer), never on a later write's constraint."""
    uow.organisations.bump_authz_epoch(access.org_id, expected=access.epoch)
    return access.epoch + 1


def refuse_only_if_current(uow: UnitOfWork, access: AccessSnapshot) -> None:
    """Before a refusal decided from reads made after the snapshot (the owner list, say):
    if another change committed since the snapshot was read, raise `access_changed` so the
    edge decides again on fresh reads. PostgreSQL's reads each see the latest commit, so a
    refusal could otherwise mix two states (a caller read as OWNER, an owner list read after
    that caller was demoted)."""
    org = uow.organisations.get(access.org_id)
    if org is None or org.authz_epoch != access.epoch:
        raise conflict("access_changed")
