"""What the race suites share: release many attempts at once, and the people who race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tenantry.accounts.service import create_user
from tenantry.bootstrap import Tenantry
from tenantry.domain.model import User
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tests.harness import PASSWORD, unique_email

BARRIER_TIMEOUT_SECONDS = 60

T = TypeVar("T")


def verified_users(tenantry: Tenantry, count: int) -> list[User]:
    """`count` verified users, created by an operator in one transaction."""
    return run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: [
            create_user(
                uow,
                tenantry.deps,
                SYSTEM,
                email=unique_email("racer"),
                password=PASSWORD,
                name=f"Racer {n}",
                verified=True,
            )
            for n in range(count)
        ],
        clock=tenantry.clock,
    )


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
