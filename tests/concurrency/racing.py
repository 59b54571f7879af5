"""What the race suites share: release many attempts at once, and the people who race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.types import ASGIApp

from tenantry.accounts.service import create_user
from tenantry.bootstrap import Tenantry
from tenantry.domain.model import Membership, MembershipStatus, User
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.edge import run_use_case
from tenantry.unit_of_work import UnitOfWork
from tests.harness import PASSWORD, unique_email

BARRIER_TIMEOUT_SECONDS = 60

T = TypeVar("T")


def verified_users(tenantry: Tenantry, count: int, *, per_unit: int = 25) -> list[User]:
    """`count` verified users, created by an operator `per_unit` to a transaction (a user
    writes three items, and one DynamoDB transaction holds 100)."""
    made: list[User] = []
    for start in range(0, count, per_unit):
        numbers = range(start, min(count, start + per_unit))

        def create(uow: UnitOfWork, numbers: range = numbers) -> list[User]:
            return [
                create_user(
                    uow,
                    tenantry.deps,
                    SYSTEM,
                    email=unique_email("racer"),
                    password=PASSWORD,
                    name=f"Racer {n}",
                    verified=True,
                )
                for n in numbers
            ]

        made += run_use_case(tenantry.store.unit_of_work, create, clock=tenantry.clock)
    return made


def race(attempts: list[Callable[[], T]]) -> list[T | Exception]:
    """Run every attempt on its own thread, all released at once; each result or error."""
    start = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], T]) -> T | Exception:
        start.wait(timeout=BARRIER_TIMEOUT_SECONDS)
        try:
            return attempt()
        except Exception as error:  # the outcome under test, whatever it is
            return error

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(run, attempts))


def active_members(tenantry: Tenantry, org_id: str, count: int) -> list[User]:
    """`count` verified users made ACTIVE MEMBERs of the organisation through the store, as
    `Api.member_of` does (invitations come later): the people an access race acts on."""
    users = verified_users(tenantry, count)
    with tenantry.store.unit_of_work(org_id=org_id) as uow:
        for user in users:
            uow.memberships.add(
                Membership(
                    org_id,
                    user.id,
                    OrgRole.MEMBER,
                    MembershipStatus.ACTIVE,
                    tenantry.clock.now(),
                    email=user.email,
                    name=user.name,
                )
            )
        uow.commit()
    return users


def race_requests(app: ASGIApp, requests: list[Callable[[TestClient], Response]]) -> list[Response]:
    """Send every request on its own thread and its own client, all released at once; the
    answers in the order given. A request that raised instead of answering fails the test."""

    def on_own_client(request: Callable[[TestClient], Response]) -> Callable[[], Response]:
        # Nothing of the HTTP client is shared between racers.
        client = TestClient(app, raise_server_exceptions=False)
        return lambda: request(client)

    outcomes = race([on_own_client(request) for request in requests])
    raised = [o for o in outcomes if not isinstance(o, Response)]
    assert raised == [], f"every racer must get an answer, got {raised!r}"
    return [o for o in outcomes if isinstance(o, Response)]
