"""`./scripts/security-figures`: the figures of docs/security.md, measured and written there.

It starts `tenantry serve` on a fresh SQLite database (mail to the probe, the probe's issuer
trusted, 30-second tokens), runs `tenantry probe --json` against it, runs the security and
concurrency suites, and rewrites the section between the figures markers.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.testing.attacks import forged, re_signed
from tenantry.testing.issuer import public_jwks
from tests.harness import StoreTarget, test_settings
from tests.security.test_api_fuzz import MAX_EXAMPLES
from tests.servers import free_port, probed_environment, ready, serving

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
FUZZ_START, FUZZ_END = "<!-- fuzz:start -->", "<!-- fuzz:end -->"
# Documented for every operation, reachable only when tenantry or its store fails.
ONLY_ON_FAILURE = {500, 503}
SUITES = ["tests/security", "tests/concurrency", "tests/integration/test_cli_probe.py"]
SPENT_TOKENS = 4  # an ended session's, a removed member's, a deleted organisation's, a refresh


def main() -> None:
    if sys.argv[1:2] == ["fuzz"]:  # ./scripts/fuzz-long: the long run's report
        fuzz = json.loads(Path(sys.argv[2]).read_text())
        DOC.write_text(with_figures(DOC.read_text(), fuzz_figures(fuzz), FUZZ_START, FUZZ_END))
        print(f"wrote the long fuzz run's figures to {DOC.relative_to(ROOT)}")
        return
    probe = probed()
    suites = suite_results()
    DOC.write_text(with_figures(DOC.read_text(), figures(probe, suites)))
    print(f"wrote the figures to {DOC.relative_to(ROOT)}")


def probed() -> dict[str, Any]:
    """`tenantry probe --json` against a started server, as docs/security.md shows."""
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        url = f"sqlite:///{where / 'tenantry.db'}"
        smtp, issuer = free_port(), free_port()
        settings = test_settings(
            StoreTarget("sqlite", url, url), where, access_token_ttl_seconds=30
        )
        target = probed_environment(settings, smtp, issuer)
        with serving(target, where / "server") as started:
            command = [
                sys.executable,
                "-m",
                "tenantry.cli",
                "probe",
                "--json",
                "--url",
                ready(*started),
                "--smtp",
                f"127.0.0.1:{smtp}",
                "--issuer-port",
                str(issuer),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode not in (0, 1):
        raise SystemExit(f"the probe failed: {done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def suite_results() -> dict[str, Counter[str]]:
    """Outcomes per test file of the security suites (run with CI=true: nothing skipped)."""
    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder) / "junit.xml"
        subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "pytest", *SUITES, "-q", "-n", "auto", f"--junitxml={junit}"],
            cwd=ROOT,
            check=False,
        )
        tree = ET.parse(junit)  # noqa: S314 - pytest's own file
    outcomes: dict[str, Counter[str]] = {}
    for case in tree.iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        kind = next(
            (child.tag for child in case if child.tag in {"failure", "error", "skipped"}), "passed"
        )
        outcomes.setdefault(module, Counter())[kind] += 1
    return outcomes


def corpus_sizes() -> tuple[int, int]:
    key = ec.generate_private_key(ec.SECP256R1())
    claims = {"sub": "usr_x", "exp": 2, "iat": 1}
    token = jwt.encode(claims, key, "ES256", headers={"kid": "k", "typ": "at+jwt"})
    made = forged(token, public_jwks(key, "k", "ES256"), lure_url="http://127.0.0.1:9")
    again = re_signed(token, lambda header, body: token, now=0)
    return len(made), len(again)


def figures(probe: dict[str, Any], suites: dict[str, Counter[str]]) -> str:
    forged_count, re_signed_count = corpus_sizes()
    operations = probe["routes"]  # the fuzz takes every operation of the document
    total = Counter[str]()
    for counts in suites.values():
        total.update(counts)
    rows = [
        ("routes in the live OpenAPI document", probe["routes"]),
        (
            "routes walked / exempt (each exemption names its suite)",
            f"{probe['routes_walked']} / {probe['routes_exempt']}",
        ),
        ("routes served without a row in the matrix", len(probe["routes_uncovered"])),
        ("kinds of principal", len(probe["principals"])),
        ("calls the probe made", probe["calls"]),
        ("calls compared with a twin naming a random id", probe["compared_with_a_random_id"]),
        (
            "audit trails compared (over HTTP; the suite also reads the system chain)",
            probe["audit_events_compared"],
        ),
        ("forged tokens the probe tried", probe["attack_tokens"]),
        (
            "attack tokens of the suite (forged + re-signed + spent), each at 3 entry points",
            f"{forged_count} + {re_signed_count} + {SPENT_TOKENS}",
        ),
        ("fuzz examples a run (operations, examples each)", f"{operations}, {MAX_EXAMPLES}"),
        (
            "fault scenarios: write use cases with their backend killed at each statement",
            sum(suites.get("tests/security/test_killed_backend.py", Counter()).values()),
        ),
        (
            "race scenarios (tests/concurrency)",
            sum(sum(c.values()) for m, c in suites.items() if m.startswith("tests/concurrency")),
        ),
        (
            "security and concurrency tests passed / failed / skipped",
            f"{total['passed']} / {total['failure'] + total['error']} / {total['skipped']}",
        ),
        ("leaks found by the probe", probe["leaks"]),
    ]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.system()} {platform.machine()}, Python {platform.python_version()}).",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines)


def fuzz_figures(fuzz: dict[str, Any]) -> str:
    operations: dict[str, dict[str, list[int]]] = fuzz["operations"]
    documented = {(op, s) for op, o in operations.items() for s in o["documented"]}
    reached = {(op, s) for op, o in operations.items() for s in o["reached"]}
    reachable = {(op, s) for op, s in documented if s not in ONLY_ON_FAILURE}
    statuses = sorted({s for _, s in reachable})
    rows = [
        f"| {status} | {sum(1 for _, s in reached & reachable if s == status)} "
        f"| {sum(1 for _, s in reachable if s == status)} |"
        for status in statuses
    ]
    successes_missed = sorted((op, s) for op, s in reachable - reached if s < 300)
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{len(operations)} operations, {fuzz['examples_per_operation']} examples each, then "
        f"{fuzz['chains']} chains of up to {fuzz['chain_steps']} linked calls; no 5xx, every "
        "answer of a documented status and schema.",
        "",
        f"Documented statuses reached: {len(reached & reachable)} of {len(reachable)} (500 and "
        "503, documented on every operation, need a failing store: the fault suite reaches "
        "503).",
        "",
        "| status | operations reaching it | operations documenting it |",
        "|---|---|---|",
        *rows,
        "",
        "Successes not reached: "
        + (", ".join(f"`{op}` {s}" for op, s in successes_missed) or "none")
        + ".",
    ]
    return "\n".join(lines)


def with_figures(document: str, block: str, start: str = START, end: str = END) -> str:
    before, rest = document.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{block}\n{end}{after}"


if __name__ == "__main__":
    main()
