"""`tenantry worker` as a real process on a real Temporal dev server: killed (SIGKILL) in the
middle of a step, another worker takes the workflow over and it completes once; SIGTERM stops
a worker cleanly; it refuses to run without Temporal chosen, and says so when Temporal cannot
be reached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tenantry.bootstrap import Tenantry
from tenantry.settings import Settings
from tests.harness import (
    Api,
    Mailbox,
    StoreTarget,
    TestClock,
    actions,
    audit_events,
    build_tenantry,
    test_settings,
    unique_slug,
)
from tests.integration.test_provisioning_temporal import workflow_result, workflow_run_ids
from tests.org_builders import register_org, stored_organisation
from tests.provisioning_steps import STEP_FOLDER, HangsOnceStep
from tests.servers import environment
from tests.smtp_server import SmtpServer, unused_port
from tests.temporal_server import TemporalServer

REPOSITORY = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60.0


def worker_settings(server: TemporalServer, target: StoreTarget, folder: Path) -> Settings:
    return test_settings(
        target,
        folder,
        workflows="temporal",
        temporal_address=server.address,
        temporal_task_queue=f"tenantry-test-{folder.name[-12:]}-{os.getpid()}",
        temporal_step_attempts=3,
        # A dead worker's attempt is given up after this long and tried again elsewhere.
        temporal_step_timeout_seconds=3,
        outbox_poll_seconds=0.2,
    )


def worker_environment(settings: Settings, steps: Path) -> dict[str, str]:
    return {
        **environment(settings),
        "TENANTRY_PROVISIONING_STEPS": json.dumps(["tests.provisioning_steps:hangs_once"]),
        STEP_FOLDER: str(steps),
        "PYTHONPATH": str(REPOSITORY),  # the steps above are the test suite's
    }


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tenantry worker` in a child process of this interpreter; killed if still running."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tenantry.cli", "worker"],
            env=env,
            cwd=log.parent,  # no stray `.env`
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{path.name} never appeared (worker exit code {process.poll()}):\n{tail}")


@pytest.fixture
def steps_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "steps"
    folder.mkdir()
    return folder


@pytest.fixture
def starter(
    temporal_server: TemporalServer,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    steps_folder: Path,
) -> Iterator[Tenantry]:
    """The API side: registers organisations and starts their workflows; runs no worker."""
    settings = worker_settings(temporal_server, store_target, tmp_path)
    step = HangsOnceStep(steps_folder)
    tenantry = build_tenantry(settings, clock, smtp_server, provisioning_steps=[step])
    try:
        yield tenantry
    finally:
        tenantry.close()


def test_a_worker_killed_mid_step_is_replaced_and_the_workflow_completes_once(
    starter: Tenantry,
    temporal_server: TemporalServer,
    store_target: StoreTarget,
    smtp_server: SmtpServer,
    steps_folder: Path,
    tmp_path: Path,
) -> None:
    env = worker_environment(starter.settings, steps_folder)
    api = Api(starter, Mailbox(starter, smtp_server))
    owner = api.verified_account()
    log = tmp_path / "worker.log"

    with worker_process(env, log) as first:
        org_id = register_org(api, owner, unique_slug()).json()["id"]
        wait_for(steps_folder / f"{org_id}.started", first, log)
        first.send_signal(signal.SIGKILL)
        first.wait()
        with worker_process(env, log) as second:
            outcome = workflow_result(temporal_server, org_id)
            second.send_signal(signal.SIGTERM)
            stopped = second.wait(timeout=WAIT_SECONDS)

    assert outcome == "ACTIVE"
    assert first.returncode == -signal.SIGKILL
    attempts = HangsOnceStep(steps_folder).attempts(org_id)
    assert attempts == [first.pid, second.pid]  # the step ran again, on the new worker
    org = stored_organisation(starter, org_id)
    assert org is not None
    assert (org.status.value, org.settings) == ("ACTIVE", {"plan": "trial"})
    assert [org.provisioning_run_id] == workflow_run_ids(temporal_server, org_id)  # one run
    trail = audit_events(store_target, org_id=org_id, actor_id=owner.user_id)
    assert [a for a in actions(trail) if a[0].startswith("organisation.")] == [
        ("organisation.create", "SUCCESS"),
        ("organisation.provisioned", "SUCCESS"),
    ]
    assert stopped == 0  # SIGTERM: the second worker finished its work and stopped
    assert "stopped" in log.read_text()


def test_the_worker_refuses_to_run_with_inline_provisioning(
    store_target: StoreTarget, tmp_path: Path, steps_folder: Path
) -> None:
    settings = test_settings(store_target, tmp_path)
    log = tmp_path / "worker.log"

    with worker_process(worker_environment(settings, steps_folder), log) as process:
        code = process.wait(timeout=WAIT_SECONDS)

    assert code == 2
    assert "workflows_inline" in log.read_text()


def test_the_worker_says_when_temporal_cannot_be_reached(
    store_target: StoreTarget, tmp_path: Path, steps_folder: Path
) -> None:
    settings = test_settings(
        store_target,
        tmp_path,
        workflows="temporal",
        temporal_address=f"127.0.0.1:{unused_port()}",  # nothing listens there
    )
    log = tmp_path / "worker.log"

    with worker_process(worker_environment(settings, steps_folder), log) as process:
        code = process.wait(timeout=WAIT_SECONDS)

    output = log.read_text()
    assert code == 1, output
    assert "temporal_unavailable" in output
    assert "Traceback" not in output
