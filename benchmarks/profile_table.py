"""cProfile of repeated calls, as report lines: the parts of a tenantry check named by the
functions doing them, the top entries by cumulative time, and (for a request that crosses
threads) self time by package."""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOP = 20
# Entries of the benchmark itself and of the profiler, left out of the top list.
_DRIVER = "benchmarks/"
_HARNESS = (_DRIVER, "{method 'disable' of '_lsprof.Profiler' objects}")
Key = tuple[str, int, str]  # pstats' (file, line, function); file "~" for C functions
Entry = tuple[int, int, float, float]  # primitive calls, calls, self time, cumulative time

# Parts that cost a check its time, each named by the function doing it: (what it is, the
# end of its file's path, its name; `*` ends a prefix, for C methods whose file is "~"). A part
# the code no longer has is left out of the table.
_UOW = "tenantry/store/sql/unit_of_work.py"
PARTS: list[tuple[str, str, str]] = [
    ("token check (`JwtSigner`)", "tenantry/tokens/signer.py", "verify_access_token"),
    ("of which PyJWT `decode` (signature, claims)", "jwt/api_jwt.py", "decode"),
    ("of which the signature (the C `verify`)", "~", "<method 'verify' of*"),
    ("SQL statements, SQLAlchemy `Connection.execute`", "sqlalchemy/engine/base.py", "execute"),
    ("of which in SQLite (`Cursor.execute`)", "~", "<method 'execute' of 'sqlite3*"),
    ("unit of work: open (pool checkout, BEGIN)", _UOW, "__enter__"),
    ("unit of work: commit (nothing written: ROLLBACK)", _UOW, "commit"),
    ("unit of work: close (back to the pool)", _UOW, "__exit__"),
    ("the decision (compiled snapshot)", "tenantry/domain/decision.py", "decide"),
]
# Self time that is a thread blocked, not working: C waits, and asyncio's runner, whose self
# time holds uvloop's loop (C that cProfile does not see) waiting for its threadpool.
_WAITING = ("acquire' of '_thread.lock", "poll' of 'select", "run_until_complete")
_WAITING_IN = (("asyncio/runners.py", "run"),)


@dataclass(frozen=True)
class Profiled:
    stats: pstats.Stats
    calls: int  # how many checks (or requests) the profile covers

    def entries(self) -> dict[Key, Entry]:
        raw: dict[Key, tuple[Any, ...]] = self.stats.stats  # type: ignore[attr-defined]
        return {key: (v[0], v[1], v[2], v[3]) for key, v in raw.items()}

    def cumulative(self, function: str) -> float:
        return max(v[3] for k, v in self.entries().items() if k[2] == function)


def profiled(action: Callable[[], object], *, calls: int) -> Profiled:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    return Profiled(pstats.Stats(profiler), calls)


def profiled_in_every_thread(action: Callable[[], object], *, calls: int) -> Profiled:
    """cProfile of `action` in this thread and in every thread it starts (a threadpool's
    workers): each new thread starts a profiler of its own on its first call."""
    profilers: list[cProfile.Profile] = []

    def profile_this_thread(*_: object) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(profile_this_thread)
    try:
        here = profiled(action, calls=calls)
    finally:
        threading.setprofile(None)
    for profiler in profilers:
        here.stats.add(profiler)
    return here


def where(key: Key) -> str:
    file, line, function = key
    if file == "~":
        return function
    parts = Path(file).parts
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{'/'.join(parts)}:{line} {function}"


def package_of(key: Key) -> str | None:
    """Who a function's self time belongs to; None for a thread waiting."""
    file, _, function = key
    if any(file.endswith(where) and function == name for where, name in _WAITING_IN):
        return None
    if _DRIVER in file:
        return "the benchmark's driver"
    if file == "~":
        if any(mark in function for mark in _WAITING):
            return None
        for package in ("sqlite3", "cryptography", "pydantic_core", "uvloop"):
            if package in function:
                return f"{package} (C)"
        return "Python built-ins (C)"
    parts = Path(file).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if "tenantry" in parts:
        return "/".join(parts[parts.index("tenantry") : parts.index("tenantry") + 2])
    return "standard library"


def package_lines(profile: Profiled) -> list[str]:
    by_package: dict[str, float] = defaultdict(float)
    for key, (_, _, self_time, _) in profile.entries().items():
        package = package_of(key)
        if package is not None:
            by_package[package] += self_time
    busy = sum(by_package.values())
    largest = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    return [
        "| package | self time per request | share |",
        "|---|---|---|",
        *[
            f"| {package.removesuffix('.py')} | {seconds / profile.calls * 1e6:,.0f} µs "
            f"| {seconds / busy:.0%} |"
            for package, seconds in largest[:12]
        ],
    ]


def top_lines(profile: Profiled, total: float) -> list[str]:
    kept = [
        (key, value)
        for key, value in profile.entries().items()
        if not any(mark in key[0] or mark in key[2] for mark in _HARNESS)
    ]
    kept.sort(key=lambda item: item[1][3], reverse=True)
    return [
        "| function | calls per check | cumulative per check | share |",
        "|---|---|---|---|",
        *[
            f"| `{where(key)}` | {calls / profile.calls:.1f} | "
            f"{cumulative / profile.calls * 1e6:,.0f} µs | {cumulative / total:.0%} |"
            for key, (_, calls, _, cumulative) in kept[:TOP]
        ],
    ]


def parts(profile: Profiled) -> dict[str, tuple[int, float]]:
    """Calls and cumulative seconds of each of `PARTS` the profile holds, by label."""
    found = {}
    for label, file, function in PARTS:
        matched = [v for key, v in profile.entries().items() if _is(key, file, function)]
        if matched:
            found[label] = (sum(v[1] for v in matched), sum(v[3] for v in matched))
    return found


def part_lines(profile: Profiled, total: float) -> list[str]:
    return [
        "| part | calls per check | per check | share |",
        "|---|---|---|---|",
        *[
            f"| {label} | {calls / profile.calls:.1f} | "
            f"{cumulative / profile.calls * 1e6:,.0f} µs | {cumulative / total:.0%} |"
            for label, (calls, cumulative) in parts(profile).items()
        ],
    ]


def _is(key: Key, file: str, function: str) -> bool:
    if not key[0].endswith(file):
        return False
    return key[2].startswith(function[:-1]) if function.endswith("*") else key[2] == function
