"""The section `benchmarks/authorize_http.py` writes into docs/benchmarks.md, made from its
figures alone: every number and every comparison in it comes from the run."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import fastapi
from http_servers import RAW, SERVE, TENANTRY, UVICORN
from profile_table import Profiled, package_lines, part_lines, parts, top_lines
from report import cpu_model

BARE = "jwt.decode (bare signature verification)"
CHECK = "JwtSigner.verify_access_token (tenantry's token check)"
AUTHORIZE = "authorize through the edge, never-seen token"
SQL = "SQL statements, SQLAlchemy `Connection.execute`"  # a label of profile_table.PARTS
UNIT_OF_WORK = ("unit of work: open", "unit of work: commit", "unit of work: close")
HOPS = 1  # the route is async and takes one explicit hop for the store (authorizer/routes.py)
Rounds = dict[str, list[dict[str, float]]]  # server -> one load result per round


@dataclass(frozen=True)
class Method:
    connections: int
    rounds: int
    warmup_seconds: float
    measured_seconds: float
    fresh_tokens: int
    profiled_tokens: int
    in_process_requests: int


@dataclass(frozen=True)
class Figures:
    http: Rounds
    serve_options: bool  # whether `tenantry serve` ran on uvloop and httptools
    costs: dict[str, float]  # CPU seconds per call: BARE, CHECK, AUTHORIZE
    authorize_profile: Profiled
    inside: dict[str, float]  # CPU seconds: a request in process, a hop, a log line
    request_profile: Profiled  # the in-process requests, every thread


def lines(figures: Figures, method: Method) -> list[str]:
    median = {name: _medians(results) for name, results in figures.http.items()}
    return [
        "Written by `.venv/bin/python benchmarks/authorize_http.py`; its docstring states the",
        "method. One run on one machine, the contenders side by side: compare the ratios.",
        "",
        f"Machine: {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{platform.system()}, {datetime.now(UTC):%Y-%m-%d}; code: {_code_label()}.",
        "",
        *http_lines(figures, median, method),
        "",
        *layer_lines(median, figures, method),
        "",
        *token_lines(figures, method),
    ]


def http_lines(figures: Figures, median: dict[str, dict[str, float]], method: Method) -> list[str]:
    http, raw, ours = figures.http, median[RAW], median[TENANTRY]
    on = "on uvloop and httptools" if figures.serve_options else "NOT on uvloop and httptools"
    budget = 2 * cpu_per_answer(raw)  # what tenantry may spend per answer at 50 %
    return [
        "### `POST /v1/authorize` over HTTP",
        "",
        f"{method.connections} connections, one uvicorn worker (`{' '.join(UVICORN)}`), the "
        f"load from another process; medians of {method.rounds} rounds of "
        f"{method.measured_seconds:.0f} s each.",
        "",
        "| server | answers/s | each round | p50 | p99 | server CPU | load generator CPU "
        "| server CPU per answer | not 200 + allowed |",
        "|---|---|---|---|---|---|---|---|---|",
        *[_http_row(name, m, http[name]) for name, m in median.items()],
        "",
        f"tenantry / raw endpoint: **{ours['per_second'] / raw['per_second']:.1%}** (goal: at "
        f"least 50 %); tenantry's p99: **{ours['p99_ms']:.1f} ms** (goal: under 10 ms). "
        f"`{SERVE}` ran the same app {on} (uvicorn's defaults), at "
        f"{median[SERVE]['per_second'] / ours['per_second']:.0%} of the row above it.",
        "",
        f"What bounds the figures: {_bound(median)} Other processes used at most "
        f"{max(r['others_cores'] for rs in http.values() for r in rs):.2f} cores in a window.",
        "",
        "What stands between them and the goals: both servers are bound by their one core, so "
        "the ratio is the inverse of their CPU per answer. At 50 % tenantry could spend "
        f"{budget * 1e6:,.0f} µs per answer; it spends {cpu_per_answer(ours) * 1e6:,.0f} µs "
        "(below). With every connection waiting on its answer, latency is connections / "
        f"throughput (Little's law): a p99 under 10 ms at {method.connections} connections "
        f"needs more than {method.connections / 0.010:,.0f} answers/s, about "
        f"{0.010 / method.connections * 1e6:,.0f} µs of CPU per answer on one core.",
    ]


def _http_row(name: str, m: dict[str, float], rounds: list[dict[str, float]]) -> str:
    each = " / ".join(f"{r['per_second']:,.0f}" for r in rounds)
    failed = sum(r["failures"] for r in rounds)
    return (
        f"| {name} | {m['per_second']:,.0f} | {each} | {m['p50_ms']:.2f} ms "
        f"| {m['p99_ms']:.2f} ms | {m['server_cores']:.2f} cores "
        f"| {m['generator_cores']:.2f} cores | {cpu_per_answer(m) * 1e6:,.0f} µs | {failed:.0f} |"
    )


def cpu_per_answer(median: dict[str, float]) -> float:
    return median["server_cores"] / median["per_second"]


def _bound(median: dict[str, dict[str, float]]) -> str:
    """Which side ran out of CPU, server by server."""
    said = []
    for name, m in median.items():
        if m["server_cores"] >= 0.9:
            side = f"the server ({m['server_cores']:.2f} cores: one worker has one)"
        elif m["generator_cores"] >= 0.9:
            side = f"the load generator ({m['generator_cores']:.2f} cores)"
        else:
            side = "neither side's CPU (the machine was shared)"
        said.append(f"{name}, {side}")
    return "; ".join(said) + "."


def layer_lines(median: dict[str, dict[str, float]], figures: Figures, method: Method) -> list[str]:
    inside, authorize = figures.inside, figures.costs[AUTHORIZE]
    served, raw, request = (
        cpu_per_answer(median[TENANTRY]),
        cpu_per_answer(median[RAW]),
        inside["request"],
    )
    hops, log_line = HOPS * inside["hop"], inside["log line"]
    rows = {
        f"{TENANTRY}, over HTTP at {method.connections} connections (above)": served,
        f"{RAW}, over HTTP: uvicorn, httptools, the socket (above)": raw,
        "tenantry's ASGI app in process, one request at a time, no server or socket": request,
        "of which authorize through the edge (the never-seen token's median, below)": authorize,
        f"of which {HOPS} threadpool hops (a no-op hop measured alone, times {HOPS})": hops,
        "of which the JSON request log line (measured alone)": log_line,
        "of which the rest: FastAPI, Starlette, tenantry's middlewares (the difference)": (
            request - authorize - hops - log_line
        ),
    }
    return [
        "### Where tenantry's server CPU goes",
        "",
        "| per answer | CPU |",
        "|---|---|",
        *[f"| {name} | {seconds * 1e6:,.0f} µs |" for name, seconds in rows.items()],
        "",
        f"FastAPI {fastapi.__version__} would run a sync route in the threadpool and then, in a "
        "second hop, validate its answer there too; the authorize route is async and takes one "
        "hop, for the store, and its answer is validated on the event loop. What the "
        "served figure has beyond the in-process one is uvicorn and the socket, and "
        f"{method.connections} requests taking turns on one interpreter lock.",
        "",
        f"Self time by package, cProfile over {figures.request_profile.calls:,} of those "
        "requests on the event loop and in the threadpool (time spent waiting left out; the "
        "profiler inflates Python code more than C):",
        "",
        *package_lines(figures.request_profile),
    ]


def token_lines(figures: Figures, method: Method) -> list[str]:
    costs, profile = figures.costs, figures.authorize_profile
    bare, total = costs[BARE], profile.cumulative("run_use_case")
    return [
        "### A never-seen token: authorize against bare signature verification",
        "",
        f"In process, CPU time per call, medians over {method.fresh_tokens:,} tokens, each seen "
        "once (the three take turns on every token; the member's snapshot is warm).",
        "",
        "| per call | CPU, median | against jwt.decode |",
        "|---|---|---|",
        *[f"| {name} | {s * 1e6:,.0f} µs | {s / bare:.2f}x |" for name, s in costs.items()],
        "",
        f"authorize / bare verification: **{costs[AUTHORIZE] / bare:.2f}x** (goal: at most "
        f"1.5x, that is {bare * 1.5e6:,.0f} µs).",
        "",
        f"cProfile of authorize over {profile.calls:,} more never-seen tokens: "
        f"{total / profile.calls * 1e6:,.0f} µs per check under the profiler (shares below are "
        "of that; the profiler inflates Python code more than the C signature check).",
        "",
        *part_lines(profile, total),
        "",
        *between_lines(figures),
        "",
        "Top entries by cumulative time:",
        "",
        *top_lines(profile, total),
    ]


def between_lines(figures: Figures) -> list[str]:
    """What stands between the figure and its goal, in the measured microseconds."""
    costs, profile = figures.costs, figures.authorize_profile
    authorize, bare = costs[AUTHORIZE], costs[BARE]
    found, total = parts(profile), profile.cumulative("run_use_case")

    def share(*labels: str) -> float:
        held = [c for label, (_, c) in found.items() if label.startswith(labels)]
        return sum(held) / total * authorize

    statements = found[SQL][0] / profile.calls if SQL in found else 0.0
    beyond, sql, unit_of_work = authorize - bare, share(SQL), share(*UNIT_OF_WORK)
    token = costs[CHECK] - bare
    reads = " (the session, its user, the organisation)" if round(statements) == 3 else ""
    return [
        f"What stands between the figure and its goal: the goal leaves "
        f"{bare * 0.5e6:,.0f} µs beyond the signature; authorize spends {beyond * 1e6:,.0f} µs. "
        f"Of that (profile shares applied to the measured median): {statements:.0f} SQL "
        f"statements per check through SQLAlchemy{reads}, "
        f"≈ {sql * 1e6:,.0f} µs; opening, committing and closing the unit of work (pool "
        f"checkout, BEGIN, ROLLBACK), ≈ {unit_of_work * 1e6:,.0f} µs; tenantry's strict token "
        f"reading and claim checks beyond PyJWT, {token * 1e6:,.0f} µs (measured); the other "
        f"≈ {(beyond - sql - unit_of_work - token) * 1e6:,.0f} µs are the edge, the runner and "
        "the service's own Python. The decision itself is a cache hit.",
    ]


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def _code_label() -> str:
    def git(*args: str) -> str:
        repository = Path(__file__).resolve().parent.parent
        command = ["git", "--no-optional-locks", "-C", str(repository), *args]
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in src" if dirty else "")
