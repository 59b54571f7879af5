"""S3 for the tests: moto in server mode on loopback (a real HTTP endpoint, one per session of
a worker, shared with the other AWS services' tests: tests/moto_server.py), and a proxy that
puts faults between boto3 and it.

`TENANTRY_TEST_S3_ENDPOINT_URL` points the tests at an S3 you run instead (MinIO, with the
credentials in the usual AWS variables). With CI=true an S3 that cannot be had fails the run;
locally the S3 tests skip and say how to enable them.

Use from a test module: `from tests.s3_server import s3_endpoint`.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import urlsplit

import pytest

from tests.moto_server import HOST, TEST_CREDENTIALS, shared_moto

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ENV_URL = "TENANTRY_TEST_S3_ENDPOINT_URL"
HOW_TO_ENABLE = (
    f"install the test extras (pip install -e '.[test]', which brings moto[server]) or set "
    f"{ENV_URL} to an S3 endpoint"
)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an S3 endpoint on loopback, for the whole session of this worker."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield configured
        return
    with shared_moto(tmp_path_factory, unavailable=_unavailable) as url:
        yield url


def s3_client(endpoint: str) -> S3Client:
    """A plain boto3 client on the endpoint, for what a test does behind tenantry's back."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )


def new_bucket(endpoint: str) -> str:
    name = f"tenantry-test-{secrets.token_hex(6)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"S3 (moto) is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"S3 tests skipped: {reason}; {HOW_TO_ENABLE}")


# --- faults ---------------------------------------------------------------------------------

FaultKind = Literal["503", "stall", "drop", "drop_after_forward"]
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "expect"}
SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>injected by the test</Message></Error>"
STALL_LIMIT_SECONDS = 60.0  # a stalled answer is released by then, or when the proxy closes


@dataclass
class _Rule:
    kind: FaultKind
    method: str
    path: re.Pattern[str]
    times: int


@dataclass
class FaultProxy:
    """HTTP on loopback between boto3 and S3 that forwards every request, but for the ones a
    test chose: `503` answers 503 SlowDown without forwarding; `drop` closes the connection
    without forwarding; `drop_after_forward` forwards (the write happens) and closes without
    an answer; `stall` forwards and then answers nothing until the client gives up."""

    upstream: str
    url: str = ""
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, outcome
    _rules: list[_Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Relay):
            relay = proxy

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def inject(self, kind: FaultKind, *, method: str, path: str, times: int = 1) -> None:
        """The next `times` requests of `method` whose path matches `path` get `kind`."""
        with self._lock:
            self._rules.append(_Rule(kind, method, re.compile(path), times))

    def faults_left(self) -> int:
        with self._lock:
            return sum(rule.times for rule in self._rules)

    def fault_for(self, method: str, path: str) -> FaultKind | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.method == method and rule.path.search(path):
                    rule.times -= 1
                    self.seen.append((method, path, rule.kind))
                    return rule.kind
            self.seen.append((method, path, "forwarded"))
            return None

    def stall(self) -> None:
        self._released.wait(STALL_LIMIT_SECONDS)

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=30)
        try:
            # The Host header goes as the client signed it.
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` answered
    relay: FaultProxy

    def do_GET(self) -> None:
        self._relay()

    do_PUT = do_HEAD = do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output stays the test's

    def _relay(self) -> None:
        body = self._body()
        fault = self.relay.fault_for(self.command, self.path)
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "503":
            self._answer(503, [], SLOW_DOWN)
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        status, answer_headers, payload = self.relay.forward(self.command, self.path, headers, body)
        if fault == "stall":
            self.relay.stall()
        if fault is not None:  # drop_after_forward, or a stall the client gave up on
            self.close_connection = True
            return
        self._answer(status, answer_headers, payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked(self) -> bytes:
        body = bytearray()
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return bytes(body)

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = next((v for k, v in headers if k.lower() == "content-length"), None)
        self.send_header(
            "Content-Length", length if self.command == "HEAD" and length else str(len(payload))
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
