"""Where the probe reads the links tenantry mails (email verification, invitations).

Against a started server the probe listens for SMTP itself (`SmtpInbox`, aiosmtpd): start
the target with `TENANTRY_MAILER=smtp` and `TENANTRY_SMTP_HOST`/`TENANTRY_SMTP_PORT` naming
it. In the test suite any mailbox of the same shape serves.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections import defaultdict
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Protocol

from tenantry.testing.wire import ProbeError

VERIFY_LINK = re.compile(r"/verify-email\?token=([A-Za-z0-9_%-]+)")
INVITATION_LINK = re.compile(r"/invitations/([A-Za-z0-9_.%-]+)")


class Inbox(Protocol):
    def texts_to(self, address: str) -> list[str]:
        """The plain-text bodies of the messages that reached `address` so far, oldest first."""
        ...


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def wait_for_link(
    inbox: Inbox,
    address: str,
    link: re.Pattern[str],
    *,
    after: int = 0,
    timeout: float = 30.0,
) -> str:
    """The token of the newest `link` mailed to `address` after its first `after` messages,
    waiting for it to arrive (the target's dispatcher sends the outbox a moment after the
    request that wrote it)."""
    deadline = time.monotonic() + timeout
    while True:
        for text in reversed(inbox.texts_to(address)[after:]):
            if found := link.search(text):
                return found.group(1)
        if time.monotonic() > deadline:
            raise ProbeError(
                f"no link was mailed to {address} within {timeout:.0f} s: is the target's "
                "TENANTRY_SMTP_HOST/TENANTRY_SMTP_PORT the probe's --smtp address?"
            )
        time.sleep(0.05)


class SmtpInbox:
    """An SMTP server on `host:port` that keeps every message's text by recipient."""

    def __init__(self, host: str, port: int) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as missing:  # an optional dependency: pip install 'tenantry[probe]'
            raise ProbeError(
                "the probe's SMTP inbox needs: pip install 'tenantry[probe]'"
            ) from missing
        self._texts: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=host, port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # what policy.default parses to
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self._texts[recipient.lower()].append(plain_text(message))
        return "250 Message accepted for delivery"

    def texts_to(self, address: str) -> list[str]:
        with self._lock:
            return list(self._texts[address.lower()])

    def __enter__(self) -> SmtpInbox:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()
