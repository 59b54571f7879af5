"""Use cases for the signing-key ring: make sure it exists, and rotate it.

A key is published as NEXT before it signs anything, so relying parties that cache the JWKS
already know it when it becomes CURRENT; a RETIRED key stays published so tokens it signed
keep verifying until they expire.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tenantry.domain.audit import ActorType, AuditDraft, EventType, Outcome
from tenantry.domain.errors import Conflict
from tenantry.domain.model import KeyState, SigningKey
from tenantry.keys.ports import KeyFactory
from tenantry.unit_of_work import UnitOfWork


def ensure_signing_keys(uow: UnitOfWork, *, now: datetime, factory: KeyFactory) -> bool:
    """Create a CURRENT and a NEXT key when there is no CURRENT one; True if it did."""
    keys = uow.signing_keys.list()
    if _in_state(keys, KeyState.CURRENT):
        return False
    current = factory.new_key(KeyState.CURRENT, now)
    uow.signing_keys.add(current)
    uow.signing_keys.add(factory.new_key(KeyState.NEXT, now))
    uow.audit.append(_key_event("keys.create", current.kid), at=now)
    return True


def rotate_signing_keys(uow: UnitOfWork, *, now: datetime, factory: KeyFactory) -> SigningKey:
    """Promote NEXT to CURRENT, retire the old CURRENT, publish a fresh NEXT.

    The factory's algorithm applies to the fresh NEXT key, so changing the algorithm takes
    two rotations.
    """
    keys = uow.signing_keys.list()
    currents = _in_state(keys, KeyState.CURRENT)
    if not currents:
        raise Conflict("there is no current signing key to rotate", code="no_signing_key")
    for old in currents:
        uow.signing_keys.set_state(old.kid, expected=KeyState.CURRENT, new=KeyState.RETIRED, at=now)
    promoted = _promote_next(uow, keys, now=now, factory=factory)
    uow.signing_keys.add(factory.new_key(KeyState.NEXT, now))
    uow.audit.append(_key_event("keys.rotate", promoted.kid), at=now)
    return promoted


def _promote_next(
    uow: UnitOfWork, keys: list[SigningKey], *, now: datetime, factory: KeyFactory
) -> SigningKey:
    waiting = _in_state(keys, KeyState.NEXT)
    if not waiting:
        # Unpublished until now: verifiers with a cached JWKS refetch on the unknown kid.
        fresh = factory.new_key(KeyState.CURRENT, now)
        uow.signing_keys.add(fresh)
        return fresh
    # The longest published NEXT key is the one every verifier has had time to fetch.
    oldest = min(waiting, key=lambda key: (key.created_at, key.kid))
    uow.signing_keys.set_state(oldest.kid, expected=KeyState.NEXT, new=KeyState.CURRENT, at=now)
    return replace(oldest, state=KeyState.CURRENT)


def _in_state(keys: list[SigningKey], state: KeyState) -> list[SigningKey]:
    return [key for key in keys if key.state == state]


def _key_event(action: str, kid: str) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.CONFIGURATION,
        action=action,
        outcome=Outcome.SUCCESS,
        actor_type=ActorType.SYSTEM,
        resource_type="signing_key",
        resource_id=kid,
    )
