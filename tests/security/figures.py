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
from tenantry.testing.issuer import public_jwks, trusted_issuer_entry
from tests.harness import StoreTarget, test_settings
from tests.security.test_api_fuzz import MAX_EXAMPLES
from tests.servers import environment, free_port, ready, serving

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
SUITES = ["tests/security", "tests/concurrency", "tests/integration/test_cli_probe.py"]
SPENT_TOKENS = 4  # an ended session's, a removed member's, a deleted organisation's, a refresh


def main() -> None:
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
        target = environment(settings) | {
            "TENANTRY_MAILER": "smtp",
            "TENANTRY_SMTP_HOST": "127.0.0.1",
            "TENANTRY_SMTP_PORT": str(smtp),
            "TENANTRY_OUTBOX_POLL_SECONDS": "0.2",
            "TENANTRY_TRUSTED_ISSUERS": json.dumps([trusted_issuer_entry("127.0.0.1", issuer)]),
        }
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


def with_figures(document: str, block: str) -> str:
    before, rest = document.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{block}\n{END}{after}"


if __name__ == "__main__":
    main()
