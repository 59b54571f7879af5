"""Can the time of an answer tell whether an email has an account? Side by side in one run:
sign-up of a new vs a taken address, password-reset request for a known vs an unknown one,
login with a wrong password vs an unknown email. Each pair takes turns (the same store, the
same load); a permutation test says how likely a difference of medians as large as the one
measured is if the two were the same. Written to docs/benchmarks.md.

Run: .venv/bin/python benchmarks/enumeration_timing.py
SQLite store in a temporary folder, the production argon2 parameters, throttles lifted.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path

from report import cpu_model, replace_section

from tenantry.accounts import mail_requests
from tenantry.accounts import service as accounts
from tenantry.bootstrap import bootstrap, prepare_to_serve
from tenantry.domain.errors import TenantryError
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tenantry.sessions import sign_in
from tenantry.settings import Settings
from tenantry.store.sql.migrate import migrate

ROUNDS = 60
PERMUTATIONS = 5000
PASSWORD = "correct horse battery staple"
LIFTED = 1_000_000  # every throttle, so that thousands of measured attempts are not refused


def interleaved(
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]],
) -> dict[str, tuple[list[float], list[float]]]:
    samples = {name: ([], []) for name in pairs}  # type: dict[str, tuple[list[float], list[float]]]
    for _ in range(ROUNDS):
        for name, sides in pairs.items():
            for side, action in enumerate(sides):
                started = time.perf_counter()
                with contextlib.suppress(TenantryError):
                    action()
                samples[name][side].append(time.perf_counter() - started)
    return samples


def p_value(a: list[float], b: list[float]) -> float:
    """Two-sided permutation test of the difference of medians."""
    measured = abs(statistics.median(a) - statistics.median(b))
    pooled, cut, rng = a + b, len(a), random.Random(7)
    as_large = 0
    for _ in range(PERMUTATIONS):
        rng.shuffle(pooled)
        as_large += (
            abs(statistics.median(pooled[:cut]) - statistics.median(pooled[cut:])) >= measured
        )
    return (as_large + 1) / (PERMUTATIONS + 1)


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="benchmark-secret-" + "x" * 32,
        secret_key_file=folder / "secret",
        login_failures_per_account=LIFTED,
        login_account_soft_limit=LIFTED,
        login_failures_per_pair=LIFTED,
        login_failures_per_ip=LIFTED,
        mail_requests_per_email=LIFTED,
        mail_requests_per_ip=LIFTED,
    )
    migrate(settings.database_url)
    app = bootstrap(settings)
    prepare_to_serve(app)
    run = lambda use_case: run_use_case(app.store.unit_of_work, use_case, clock=app.clock)  # noqa: E731
    known = "known@example.com"
    run(
        lambda uow: accounts.create_user(
            uow, app.deps, SYSTEM, email=known, password=PASSWORD, name="K", verified=True
        )
    )
    fresh = (f"new-{n}@example.com" for n in count())
    client = sign_in.ClientInfo(ip_address=None)

    def signup(email: Callable[[], str]) -> Callable[[], object]:
        return lambda: run(
            lambda uow: mail_requests.signup(
                uow, app.deps, email=email(), password=PASSWORD, name="N"
            )
        )

    def reset(email: str) -> Callable[[], object]:
        return lambda: run(
            lambda uow: mail_requests.request_password_reset(uow, app.deps, email=email)
        )

    def login(email: str) -> Callable[[], object]:
        return lambda: run(
            lambda uow: sign_in.login(
                uow, app.deps, email=email, password="wrong password!", org_id=None, client=client
            )
        )

    samples = interleaved(
        {
            "sign-up: new address / taken address": (
                signup(lambda: next(fresh)),
                signup(lambda: known),
            ),
            "password reset: unknown / known address": (reset("nobody@example.com"), reset(known)),
            "login: unknown email / wrong password": (login("nobody@example.com"), login(known)),
        }
    )
    write_report(samples)


def write_report(samples: dict[str, tuple[list[float], list[float]]]) -> None:
    rows = []
    for name, (first, second) in samples.items():
        a, b = statistics.median(first), statistics.median(second)
        rows.append(
            f"| {name} | {a * 1000:.2f} ms | {b * 1000:.2f} ms | {a / b:.3f} | {p_value(first, second):.3f} |"
        )
    lines = [
        "Written by `benchmarks/enumeration_timing.py`: each pair of answers takes turns, "
        f"{ROUNDS} rounds, in one run on one machine; the p-value is a permutation test "
        f"({PERMUTATIONS} shuffles) of the difference of the two medians.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{platform.system()}; SQLite store, argon2id m=19456 KiB, t=2, p=1.",
        "",
        "| pair | first median | second median | ratio | p-value |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "A ratio near 1.00 and a large p-value mean the time of the answer does not tell the two",
        "apart. A p-value under 0.01 would be a difference to look into.",
    ]
    replace_section("enumeration_timing.py", "Enumeration by timing", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
