"""Write contention over HTTP, old code and current code side by side in one run.

Run: .venv/bin/python benchmarks/contention.py [--old REV] [--new REV]

Each variant is a real tenantry server under uvicorn in its own process, on 127.0.0.1 on a free
port, on a fresh SQLite file, with the production (OWASP) argon2 parameters; both run at once.
Threads of httpx2 clients in this process measure (a) login throughput with 1 and with 4
concurrent clients and (b) refresh latency alone and while another client logs in continuously,
phase by phase for old then new (then new then old in the next round). The old code is
`git archive REV src` unpacked in a temporary folder (the repository is not touched); the new
code is the working tree's src unless --new names a revision. The table goes into its own block
of docs/benchmarks.md; the rest of that file stays as it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
from report import cpu_model

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "docs" / "benchmarks.md"
SECTION = "## Write contention over HTTP"
BEGIN, END = "<!-- contention.py: begin -->", "<!-- contention.py: end -->"
OLD_REV = "93a8498"
PASSWORD = "correct horse battery staple"
THROTTLE = 1_000_000  # login failures allowed: throttling must not interfere
ROUNDS = 2  # every phase runs this many times per variant, alternating old and new
LOGIN_SECONDS = 4.0  # per throughput phase
REFRESH_ALONE = (50, 3.0)  # (at most this many refreshes, in at most this many seconds)
REFRESH_LOADED = (100, 6.0)
MAX_REQUESTS = 500  # per client per phase
HTTP_TIMEOUT = 30.0  # above the store's 15 s SQLite busy timeout, so the server answers first
STARTUP_SECONDS = 60.0

Errors = Counter[str]  # "503 store_unavailable" -> how many


# --- the server process ---------------------------------------------------------------------


def serve(fd: int, folder: Path) -> None:
    """Run tenantry (whichever PYTHONPATH holds) on the inherited listening socket."""
    import uvicorn

    import tenantry
    from tenantry import bootstrap
    from tenantry.http.app import create_app
    from tenantry.settings import Settings

    source = Path(os.environ["PYTHONPATH"]).resolve()
    if not Path(tenantry.__file__).resolve().is_relative_to(source):
        raise SystemExit(f"tenantry imported from {tenantry.__file__}, not from {source}")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="benchmark-secret-" + "x" * 32,
        secret_key_file=folder / "secret",
        login_failures_per_account=THROTTLE,
        login_failures_per_ip=THROTTLE,
        require_verified_email=False,
    )
    app = create_app(open_tenantry(bootstrap, settings))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


def open_tenantry(bootstrap, settings):  # untyped: the old and the new code differ
    if not hasattr(bootstrap, "prepare_to_serve"):  # the old code migrated and made keys itself
        return bootstrap.bootstrap(settings, auto_migrate=True)
    from tenantry.store.sql.migrate import migrate

    migrate(settings.database_url)
    app = bootstrap.bootstrap(settings)
    bootstrap.prepare_to_serve(app)
    return app


@contextmanager
def running_server(source: Path, folder: Path) -> Iterator[str]:
    """Start `serve` in a child process on a socket bound here; yield its base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env["PYTHONPATH"] = str(source)
    with socket.socket() as listener, (folder / "server.log").open("wb") as log:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        command = [sys.executable, __file__, "--serve", str(listener.fileno()), str(folder)]
        process = subprocess.Popen(
            command, env=env, pass_fds=[listener.fileno()], stdout=log, stderr=log
        )
    try:
        wait_until_ready(base, process, folder / "server.log")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with http_client(base) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get("/healthz").is_success:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"server did not start (exit code {process.poll()}):\n{tail}")


# --- HTTP traffic ---------------------------------------------------------------------------


def http_client(base: str) -> httpx2.Client:
    # trust_env=False: no proxy from the environment, the traffic stays on 127.0.0.1.
    return httpx2.Client(base_url=base, timeout=HTTP_TIMEOUT, trust_env=False)


def post(client: httpx2.Client, path: str, body: dict, errors: Errors) -> tuple[float, dict | None]:
    """Seconds taken and the JSON body, or None after counting a non-2xx answer in `errors`."""
    started = time.perf_counter()
    try:
        response = client.post(path, json=body)
    except httpx2.HTTPError as exc:
        errors[type(exc).__name__] += 1
        return time.perf_counter() - started, None
    elapsed = time.perf_counter() - started
    if response.is_success:
        return elapsed, response.json()
    errors[f"{response.status_code} {problem_code(response)}"] += 1
    return elapsed, None


def problem_code(response: httpx2.Response) -> str:
    try:
        return str(response.json().get("code", "?"))
    except ValueError:  # not a problem+json body
        return "?"


def login_body(email: str) -> dict:
    return {"email": email, "password": PASSWORD}


def log_in(client: httpx2.Client, email: str, errors: Errors) -> str:
    """A new session's refresh token (three tries)."""
    for _ in range(3):
        _, body = post(client, "/v1/auth/login", login_body(email), errors)
        if body is not None:
            return body["refresh_token"]
    raise RuntimeError(f"three logins as {email} failed: {dict(errors)}")


def sign_up(base: str, emails: list[str]) -> None:
    errors: Errors = Counter()
    with http_client(base) as client:
        for email in emails:
            post(client, "/v1/auth/signup", {**login_body(email), "name": email}, errors)
            log_in(client, email, errors)  # also warms the login path up
    if errors:
        raise RuntimeError(f"sign-up failed: {dict(errors)}")


def keep_logging_in(
    base: str, email: str, until: float, stop: threading.Event | None = None
) -> tuple[int, Errors]:
    """Log in back to back until `until` (or `stop`); the number of successful logins."""
    done, errors = 0, Counter()
    with http_client(base) as client:
        for _ in range(MAX_REQUESTS):
            if time.perf_counter() >= until or (stop is not None and stop.is_set()):
                break
            done += post(client, "/v1/auth/login", login_body(email), errors)[1] is not None
    return done, errors


def login_rate(base: str, emails: list[str]) -> tuple[float, Errors]:
    """Successful logins per second with one client per email, all at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(emails)) as pool:
        until = started + LOGIN_SECONDS
        results = list(pool.map(lambda email: keep_logging_in(base, email, until), emails))
    elapsed = time.perf_counter() - started
    return sum(done for done, _ in results) / elapsed, sum((e for _, e in results), Counter())


def refresh_latencies(
    base: str, email: str, bounds: tuple[int, float]
) -> tuple[list[float], Errors]:
    """Seconds per refresh, one refresh at a time, each with the token the last one returned."""
    count, seconds = bounds
    samples, errors = [], Counter()
    with http_client(base) as client:
        token = log_in(client, email, errors)
        until = time.perf_counter() + seconds
        while len(samples) < count and time.perf_counter() < until:
            elapsed, body = post(client, "/v1/auth/refresh", {"refresh_token": token}, errors)
            samples.append(elapsed)
            token = body["refresh_token"] if body else log_in(client, email, errors)
    return samples, errors


def refresh_while_logging_in(
    base: str, email: str, other: str
) -> tuple[list[float], float, Errors]:
    """Refresh latencies while `other` logs in continuously; also that client's login rate."""
    stop = threading.Event()
    count, seconds = REFRESH_LOADED
    with ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        loader = pool.submit(keep_logging_in, base, other, started + seconds + HTTP_TIMEOUT, stop)
        time.sleep(0.2)  # the first login is under way
        try:
            samples, errors = refresh_latencies(base, email, (count, seconds))
        finally:
            stop.set()
        logins, loader_errors = loader.result()
    return samples, logins / (time.perf_counter() - started), errors + loader_errors


# --- the rounds -----------------------------------------------------------------------------


USERS = [f"user{i}@example.com" for i in range(6)]


@dataclass
class Result:
    """One variant's figures, gathered over the rounds."""

    label: str
    base: str  # the server's URL
    login_1: list[float] = field(default_factory=list)  # logins/s, one per round
    login_4: list[float] = field(default_factory=list)
    refresh_alone: list[float] = field(default_factory=list)  # seconds, pooled over rounds
    refresh_loaded: list[float] = field(default_factory=list)
    background_logins: list[float] = field(default_factory=list)  # logins/s, one per round
    errors: dict[str, Errors] = field(default_factory=dict)  # by phase

    def count(self, phase: str, errors: Errors) -> None:
        self.errors[phase] = self.errors.get(phase, Counter()) + errors


def login_1(result: Result) -> None:
    rate, errors = login_rate(result.base, USERS[:1])
    result.login_1.append(rate)
    result.count("login, 1 client", errors)


def login_4(result: Result) -> None:
    rate, errors = login_rate(result.base, USERS[:4])
    result.login_4.append(rate)
    result.count("login, 4 clients", errors)


def refresh_alone(result: Result) -> None:
    samples, errors = refresh_latencies(result.base, USERS[4], REFRESH_ALONE)
    result.refresh_alone += samples
    result.count("refresh alone", errors)


def refresh_loaded(result: Result) -> None:
    samples, rate, errors = refresh_while_logging_in(result.base, USERS[4], USERS[5])
    result.refresh_loaded += samples
    result.background_logins.append(rate)
    result.count("refresh + login", errors)


PHASES = (login_1, login_4, refresh_alone, refresh_loaded)


def measure(results: list[Result]) -> None:
    """Each phase for every variant back to back, so both see the same machine; the order of
    the variants alternates from round to round."""
    for round_ in range(ROUNDS):
        order = results if round_ % 2 == 0 else results[::-1]
        for phase in PHASES:
            for result in order:
                step(result.label, f"round {round_ + 1}, {phase.__name__}")
                phase(result)


def step(label: str, what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {label}: {what}", file=sys.stderr, flush=True)


def source_tree(rev: str | None, folder: Path) -> Path:
    """The working tree's src, or REV's src unpacked from `git archive` into `folder`."""
    if rev is None:
        return REPO / "src"
    archive = git("archive", rev, "src", text=False)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def git(*args: str, text: bool = True) -> str | bytes:
    command = ["git", "--no-optional-locks", "-C", str(REPO), *args]
    return subprocess.run(command, capture_output=True, check=True, text=text).stdout


def label_of(rev: str | None) -> str:
    if rev is not None:
        return str(git("rev-parse", "--short", rev)).strip()
    head = str(git("rev-parse", "--short", "HEAD")).strip()
    dirty = str(git("status", "--porcelain", "--", "src")).strip()
    return f"{head} + uncommitted src" if dirty else head


# --- the report -----------------------------------------------------------------------------


def spread(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max in milliseconds."""
    if not samples:
        return (float("nan"),) * 3
    if len(samples) == 1:
        return (samples[0] * 1e3,) * 3
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return statistics.median(samples) * 1e3, p95 * 1e3, max(samples) * 1e3


RATIO_ROWS = ("login ratio 4 : 1 clients", "refresh ratio loaded : alone, p50 / p95 / max")


def rows(result: Result) -> dict[str, tuple[float, ...]]:
    alone, loaded = spread(result.refresh_alone), spread(result.refresh_loaded)
    one, four = max(result.login_1), max(result.login_4)
    return {
        "login/s, 1 client": (one,),
        "login/s, 4 clients": (four,),
        RATIO_ROWS[0]: (four / one,),
        "refresh alone, p50 / p95 / max ms": alone,
        "refresh while a client logs in, p50 / p95 / max ms": loaded,
        RATIO_ROWS[1]: tuple(b / a for a, b in zip(alone, loaded, strict=True)),
        "logins/s of that client meanwhile": (max(result.background_logins),),
    }


def cell(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}" for v in values)


def error_cell(result: Result) -> str:
    found = [
        f"{n} x {what} ({phase})"
        for phase, errors in result.errors.items()
        for what, n in errors.items()
    ]
    return "; ".join(found) or "0"


def table(old: Result, new: Result) -> list[str]:
    old_rows, new_rows = rows(old), rows(new)
    lines = [
        f"| | old ({old.label}) | new ({new.label}) | new : old |",
        "|---|---|---|---|",
    ]
    for name, before in old_rows.items():
        after = new_rows[name]
        ratio = tuple(b / a if a else float("nan") for a, b in zip(before, after, strict=True))
        versus = "" if name in RATIO_ROWS else cell(ratio)
        lines.append(f"| {name} | {cell(before)} | {cell(after)} | {versus} |")
    samples = f"{len(old.refresh_alone)} + {len(old.refresh_loaded)}"
    samples_new = f"{len(new.refresh_alone)} + {len(new.refresh_loaded)}"
    lines.append(f"| refreshes timed (alone + loaded) | {samples} | {samples_new} | |")
    lines.append(f"| non-2xx responses | {error_cell(old)} | {error_cell(new)} | |")
    return lines


def cpu_seconds() -> tuple[float, float]:
    """(busy, elapsed) CPU seconds of the whole machine so far, summed over cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, sum(fields) / tick


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the servers it started (and waited for)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def others_share(before: tuple[float, float], own_before: float) -> float:
    """The share of the machine other processes used since `before`, 0 to 1."""
    busy, elapsed = (now - then for now, then in zip(cpu_seconds(), before, strict=True))
    return max(busy - (own_cpu_seconds() - own_before), 0) / elapsed


def section(old: Result, new: Result, command: str, others: float) -> list[str]:
    return [
        BEGIN,
        f"Written by `{command}`.",
        "",
        "Per variant: a real uvicorn server on 127.0.0.1, a fresh SQLite file, argon2id",
        "m=19456 KiB, t=2, p=1, and httpx2 clients in another process on the same machine.",
        f"Old and new run side by side in one run, phase by phase, in {ROUNDS} rounds of",
        "alternating order: compare the ratios. Rates are the best round; latencies pool the",
        "rounds. Refresh runs one request at a time; the loading client logs in back to back",
        "as another user.",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()},",
        f"{platform.system()}, {datetime.now(UTC):%Y-%m-%d}; other processes used {others:.0%} of",
        "the machine's CPU time during the run.",
        "",
        *table(old, new),
        END,
    ]


def write_section(block: list[str]) -> None:
    """Replace the generated block of docs/benchmarks.md (or append a section holding it);
    the prose around it stays."""
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    if BEGIN in lines and END in lines:
        lines[lines.index(BEGIN) : lines.index(END) + 1] = block
    else:
        lines += ["", SECTION, "", *block]
    REPORT.write_text("\n".join(lines).rstrip("\n") + "\n")


def compare(old_rev: str, new_rev: str | None) -> list[Result]:
    """Both servers run at once (the idle one costs nothing) while `measure` alternates."""
    with tempfile.TemporaryDirectory(prefix="tenantry-contention-") as tmp, ExitStack() as stack:
        results = []
        for name, rev in (("old", old_rev), ("new", new_rev)):
            folder = Path(tmp, name)
            folder.mkdir()
            base = stack.enter_context(running_server(source_tree(rev, folder), folder))
            sign_up(base, USERS)
            results.append(Result(label_of(rev), base))
        measure(results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=OLD_REV, help="revision for the old code")
    parser.add_argument("--new", default=None, help="revision for the new code (default: src/)")
    parser.add_argument("--serve", nargs=2, metavar=("FD", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return
    machine, own = cpu_seconds(), own_cpu_seconds()
    old, new = compare(args.old, args.new)
    others = others_share(machine, own)
    if others > 0.1:
        print(f"warning: other processes used {others:.0%} of the CPU", file=sys.stderr)
    command = " ".join([".venv/bin/python benchmarks/contention.py", *sys.argv[1:]])
    block = section(old, new, command, others)
    write_section(block)
    print("\n".join(block))


if __name__ == "__main__":
    main()
