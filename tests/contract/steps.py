"""Steps on a store, each in a unit of work of its own, scoped as the services scope theirs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest

from tenantry.domain.errors import TenantryError
from tenantry.domain.model import Membership, Organisation, OutboxEntry, Session, SigningKey, User
from tenantry.domain.roles import Role, RoleAssignment
from tenantry.domain.teams import Team, TeamMembership
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import (
    OUTBOX_AT,
    make_assignment,
    make_key,
    make_membership,
    make_message,
    make_org,
    make_role,
    make_session,
    make_team,
    make_team_member,
    make_user,
)

T = TypeVar("T")
Write = Callable[[UnitOfWork], object]


def present(value: T | None) -> T:
    """`value`, which the test expects to be there."""
    assert value is not None
    return value


def committed(
    store: Store, *writes: Write, org_id: str | None = None, user_id: str | None = None
) -> None:
    """The writes, in order, in one unit of work that commits."""
    with store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        for write in writes:
            write(uow)
        uow.commit()


def adding(record: RoleAssignment | TeamMembership) -> Write:
    """The write that adds a role assignment or a team membership."""
    if isinstance(record, RoleAssignment):
        return lambda uow: uow.role_assignments.add(record)
    return lambda uow: uow.team_memberships.add(record)


def committed_in_batches(store: Store, writes: list[Write], *, org_id: str) -> None:
    """The writes, 40 to a unit of work: more than one DynamoDB transaction holds (100 items)
    can only be made in steps."""
    for start in range(0, len(writes), 40):
        committed(store, *writes[start : start + 40], org_id=org_id)


def read(
    store: Store,
    query: Callable[[UnitOfWork], T],
    *,
    org_id: str | None = None,
    user_id: str | None = None,
) -> T:
    with store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        return query(uow)


def refused(
    store: Store, *writes: Write, org_id: str | None = None, user_id: str | None = None
) -> TenantryError:
    """The error the commit of the writes raises (the test fails if it commits)."""
    with store.unit_of_work(org_id=org_id, user_id=user_id) as uow:
        for write in writes:
            write(uow)
        with pytest.raises(TenantryError) as raised:
            uow.commit()
    return raised.value


def given_user(store: Store, **changes: Any) -> User:
    user = make_user(**changes)
    committed(store, lambda uow: uow.users.add(user))
    return user


def given_org(store: Store, **changes: Any) -> Organisation:
    org = make_org(**changes)
    committed(store, lambda uow: uow.organisations.add(org), org_id=org.id)
    return org


def given_member(
    store: Store, org: Organisation, user: User | None = None, **changes: Any
) -> Membership:
    membership = make_membership(org, user or given_user(store), **changes)
    committed(store, lambda uow: uow.memberships.add(membership), org_id=org.id)
    return membership


def given_role(store: Store, org: Organisation, **changes: Any) -> Role:
    role = make_role(org, **changes)
    committed(store, lambda uow: uow.roles.add(role), org_id=org.id)
    return role


def given_assignment(
    store: Store, org: Organisation, user_id: str, role: Role, **changes: Any
) -> RoleAssignment:
    assignment = make_assignment(org, user_id, role, **changes)
    committed(store, lambda uow: uow.role_assignments.add(assignment), org_id=org.id)
    return assignment


def given_team(store: Store, org: Organisation, **changes: Any) -> Team:
    team = make_team(org, **changes)
    committed(store, lambda uow: uow.teams.add(team), org_id=org.id)
    return team


def given_team_member(
    store: Store, team: Team, user: User | None = None, **changes: Any
) -> TeamMembership:
    membership = make_team_member(team, user, **changes)
    committed(store, lambda uow: uow.team_memberships.add(membership), org_id=team.org_id)
    return membership


def given_session(store: Store, user: User | None = None, **changes: Any) -> Session:
    session = make_session(user or given_user(store), **changes)
    committed(store, lambda uow: uow.sessions.add(session))
    return session


def given_key(store: Store, **changes: Any) -> SigningKey:
    key = make_key(**changes)
    committed(store, lambda uow: uow.signing_keys.add(key))
    return key


def given_entry(store: Store, at: datetime = OUTBOX_AT, **changes: Any) -> OutboxEntry:
    """An outbox entry added at `at`, as `due` reads it back."""
    message = make_message(**changes)
    committed(store, lambda uow: uow.outbox.add(message, at=at))
    return next(entry for entry in due(store, at) if entry.message == message)


def due(store: Store, now: datetime, *, limit: int = 100) -> list[OutboxEntry]:
    return read(store, lambda uow: uow.outbox.due(now, limit=limit))
