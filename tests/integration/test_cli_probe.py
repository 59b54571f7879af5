"""`tenantry probe --url URL` against a started `tenantry serve`, as a reviewer runs it
against their own deployment: the target mails the probe's SMTP address, trusts its issuer,
and issues 30-second tokens, so that the expired-token pass waits a minute, not ten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantry.cli import app
from tests.harness import StoreTarget, copy_sqlite, test_settings
from tests.servers import free_port, probed_environment, ready, serving

pytestmark = pytest.mark.smtp

PROBE_SECONDS = 600  # the walk, and the wait for a token to expire, with room to spare


def test_the_probe_finds_no_leak_in_a_started_server(sqlite_template: Path, tmp_path: Path) -> None:
    url = copy_sqlite(sqlite_template, tmp_path / "tenantry.db")
    smtp_port, issuer_port = free_port(), free_port()
    settings = test_settings(StoreTarget("sqlite", url, url), tmp_path, access_token_ttl_seconds=30)
    target = probed_environment(settings, smtp_port, issuer_port)

    with serving(target, tmp_path / "server") as started:
        base = ready(*started)
        probed = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "tenantry.cli",
                "probe",
                "--url",
                base,
                "--json",
                "--smtp",
                f"127.0.0.1:{smtp_port}",
                "--issuer-port",
                str(issuer_port),
            ],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            cwd=tmp_path,
        )

    assert probed.returncode == 0, probed.stdout + probed.stderr
    report = json.loads(probed.stdout)
    assert report["leaks"] == 0
    assert report["findings"] == []
    assert report["routes_uncovered"] == []
    assert report["principals_not_set_up"] == {}
    assert len(report["principals"]) == 10
    assert report["compared_with_a_random_id"] > 500
    assert report["attack_tokens"] > 20
    # Over HTTP the system chain is not visible: those refusals' events are not compared.
    assert 0 < report["audit_not_visible_over_http"] < report["audit_events_compared"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--smtp", "nonsense"], "invalid_option: --smtp nonsense: expected HOST:PORT"),
        (["--openapi", "/no/such/openapi.json"], "invalid_option: --openapi /no/such/openapi.json"),
        (["--smtp", "127.0.0.1:0"], "probe_failed:"),  # nothing listens at the URL
    ],
)
def test_a_probe_that_cannot_start_says_why_and_exits_2(options: list[str], said: str) -> None:
    refused = CliRunner().invoke(
        app, ["probe", "--url", f"http://127.0.0.1:{free_port()}", *options]
    )

    assert refused.exit_code == 2, refused.output
    assert said in " ".join(refused.output.split())
    assert "Traceback" not in refused.output
