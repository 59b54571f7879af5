"""An SMTP server on loopback for tests: `from tests.smtp_server import smtp_server`."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests import token_sweep

HOST = "127.0.0.1"
# A wait ends the moment the message is stored; this bound only fails a message that never comes.
LAST_RESORT_SECONDS = 30.0


def unused_port() -> int:
    """A port nothing listens on right now (also handy as a 'closed' SMTP port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        token_sweep.note_mailed(message)
        with self._arrived:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def received(self) -> tuple[list[EmailMessage], list[list[str]]]:
        with self._arrived:
            return list(self.messages), list(self.recipients)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until `count` messages are stored; False if `timeout` passed first."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)


class SmtpServer:
    def __init__(self, controller: Controller, collector: _Collector) -> None:
        self._controller = controller
        self._collector = collector
        self.host = HOST
        self.port: int = controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        return self._collector.received()[0]

    @property
    def recipients(self) -> list[list[str]]:
        """The envelope recipients (RCPT TO) of each message, in order."""
        return self._collector.received()[1]

    def wait_for(self, count: int, timeout: float = LAST_RESORT_SECONDS) -> list[EmailMessage]:
        """The messages, once at least `count` have arrived.

        Each arrival wakes the wait, so it lasts as long as delivery does. `timeout` only
        bounds a delivery that never comes: then the test fails.
        """
        if not self._collector.wait_for(count, timeout):
            got = len(self.messages)
            raise AssertionError(f"expected {count} messages within {timeout}s, got {got}")
        return self.messages


def _start_controller(collector: _Collector) -> Controller:
    # The port is chosen before the server binds, so another process may take it first
    # (parallel test workers): retry with a fresh port.
    for _ in range(5):
        controller = Controller(collector, hostname=HOST, port=unused_port())
        try:
            controller.start()
        except OSError:
            continue
        return controller
    raise RuntimeError("could not start the test SMTP server on a free port")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    collector = _Collector()
    controller = _start_controller(collector)
    try:
        yield SmtpServer(controller, collector)
    finally:
        controller.stop()
