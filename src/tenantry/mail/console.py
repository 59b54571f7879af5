"""A mailer for development: the message goes to stdout, where a user can copy its link."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from tenantry.domain.model import EmailMessage

_RULE = "=" * 72


class ConsoleMailer:
    def __init__(self, stream: TextIO | None = None) -> None:
        # None means "sys.stdout at send time", so that redirection (and capsys) still applies.
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        stream = self._stream or sys.stdout
        # One write under a lock: the dispatcher thread must not interleave with other output.
        with self._lock:
            stream.write(render_for_console(message))
            stream.flush()


def render_for_console(message: EmailMessage) -> str:
    lines = [
        "",
        _RULE,
        f"EMAIL ({message.kind})",
        f"To:      {message.to}",
        f"Subject: {message.subject}",
        _RULE,
        message.text.rstrip("\n"),
        _RULE,
        "",
    ]
    return "\n".join(lines)
