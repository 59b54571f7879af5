"""Sign-in and bearer-check costs, measured side by side in one run, written to docs/benchmarks.md.

Run: .venv/bin/python benchmarks/sign_in.py
Uses the embedded SQLite store in a temporary folder and the production argon2 parameters.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from report import cpu_model, replace_section

from tenantry.accounts import service as accounts
from tenantry.bootstrap import bootstrap, prepare_to_serve
from tenantry.domain.errors import TenantryError
from tenantry.domain.principal import SYSTEM
from tenantry.edge import run_use_case
from tenantry.sessions import service as sessions
from tenantry.sessions import sign_in
from tenantry.settings import Settings
from tenantry.store.sql.migrate import migrate

ROUNDS = 30
PASSWORD = "correct horse battery staple"


def measure_interleaved(
    actions: dict[str, Callable[[], object]], rounds: int = ROUNDS
) -> dict[str, float]:
    """Median seconds per call of each action, taking turns, so that every action meets the
    same store (its log grows with every audited attempt) and the same machine load."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            started = time.perf_counter()
            with contextlib.suppress(TenantryError):
                action()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in samples.items()}


def measure(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median seconds per call."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        with contextlib.suppress(TenantryError):
            action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="benchmark-secret-" + "x" * 32,
        secret_key_file=folder / "secret",
        # Thousands of measured wrong passwords from one client must not hit the throttle.
        login_failures_per_account=100_000,
        login_account_soft_limit=100_000,
        login_failures_per_pair=100_000,
        login_failures_per_ip=100_000,
    )
    migrate(settings.database_url)
    app = bootstrap(settings)
    prepare_to_serve(app)
    run = lambda use_case: run_use_case(app.store.unit_of_work, use_case, clock=app.clock)  # noqa: E731
    run(
        lambda uow: accounts.create_user(
            uow, app.deps, SYSTEM, email="a@example.com", password=PASSWORD, name="A", verified=True
        )
    )
    client = sign_in.ClientInfo(ip_address=None)

    def login(email: str, password: str) -> Callable[[], object]:
        return lambda: run(
            lambda uow: sign_in.login(
                uow, app.deps, email=email, password=password, org_id=None, client=client
            )
        )

    pair = run(
        lambda uow: sign_in.login(
            uow, app.deps, email="a@example.com", password=PASSWORD, org_id=None, client=client
        )
    )
    results = {
        **measure_interleaved(
            {
                "login, right password": login("a@example.com", PASSWORD),
                "login, wrong password": login("a@example.com", "wrong password!"),
                "login, unknown email": login("nobody@example.com", "wrong password!"),
            }
        ),
        "verify access token (signature + claims)": measure(
            lambda: app.signer.verify_access_token(pair.access_token), 2000
        ),
        "authenticate bearer (verify + session + membership reads)": measure(
            lambda: run(lambda uow: sessions.authenticate(uow, app.deps, pair.access_token)), 500
        ),
    }
    write_report(results)


def write_report(results: dict[str, float]) -> None:
    unknown, wrong = results["login, unknown email"], results["login, wrong password"]
    lines = [
        "Written by `benchmarks/sign_in.py`: medians of repeated calls in one run on one",
        "machine (the three logins take turns), so compare the ratios, not the absolute numbers.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, {platform.system()}; SQLite store,",
        "argon2id m=19456 KiB, t=2, p=1 (the OWASP floor, the production default).",
        "",
        "| operation | median |",
        "|---|---|",
        *[f"| {name} | {seconds * 1000:.3f} ms |" for name, seconds in results.items()],
        "",
        f"Unknown email / wrong password time ratio: **{unknown / wrong:.2f}** (1.00 means an",
        "attacker cannot tell the two apart by timing; the dummy-hash verification makes it so).",
    ]
    replace_section("sign_in.py", "Sign-in and the bearer check", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
