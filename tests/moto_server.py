"""moto in server mode on loopback: one process per worker, shared by every AWS service the
tests use (moto serves them all on one port), started by the first fixture that asks for it
and stopped when the last one is done.

`moto_endpoint` is the fixture for a test of a service other than S3 (S3 tests use
`tests.s3_server.s3_endpoint`, which may point at another S3). With CI=true a moto that cannot
start fails the run; locally those tests skip and say how to enable them.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
HOW_TO_ENABLE = "install the test extras (pip install -e '.[test]', which brings moto[server])"
# Credentials moto takes (it checks none) and a region; nothing leaves loopback.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

Unavailable = Callable[[str], NoReturn]


@dataclass
class _Running:
    url: str
    process: subprocess.Popen[bytes]
    users: int = 0


_running: _Running | None = None


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of moto on loopback, for the whole session of this worker."""
    with shared_moto(tmp_path_factory, unavailable=_unavailable) as url:
        yield url


@contextmanager
def shared_moto(
    tmp_path_factory: pytest.TempPathFactory, *, unavailable: Unavailable
) -> Iterator[str]:
    """moto's URL; the process is started on first use and stopped after its last user."""
    global _running
    if _running is None or _running.process.poll() is not None:
        _running = _start(tmp_path_factory, unavailable)
    running = _running
    running.users += 1
    try:
        yield running.url
    finally:
        running.users -= 1
        if running.users == 0:
            _stop(running.process)
            if _running is running:
                _running = None


def _start(tmp_path_factory: pytest.TempPathFactory, unavailable: Unavailable) -> _Running:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        unavailable("moto[server] is not installed")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = _free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=os.environ | TEST_CREDENTIALS,
        )
    url = f"http://{HOST}:{port}"
    try:
        _wait_until_answering(port, process, log, unavailable)
    except BaseException:
        _stop(process)
        raise
    return _Running(url, process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_answering(
    port: int, process: subprocess.Popen[bytes], log: Path, unavailable: Unavailable
) -> None:
    # A real process starts in its own time: poll until it answers any HTTP request.
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    tail = log.read_text(errors="replace")[-3000:]
    unavailable(f"moto did not start on port {port} (exit code {process.poll()}):\n{tail}")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"moto is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"AWS tests skipped: {reason}; {HOW_TO_ENABLE}")
