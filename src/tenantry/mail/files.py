"""A mailer that drops one `.eml` file per message into a directory, for tests and demos."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from tenantry.domain.model import EmailMessage
from tenantry.mail.mime import to_mime


class FilesMailer:
    def __init__(self, directory: Path, *, sender: str) -> None:
        self._directory = Path(directory)
        self._sender = sender

    @property
    def directory(self) -> Path:
        return self._directory

    def send(self, message: EmailMessage) -> None:
        # RFC 5322 lines end in CRLF; the SMTP policy writes them so.
        data = to_mime(message, sender=self._sender).as_bytes(policy=policy.SMTP)
        self._directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(self._directory / _file_name(), data)


def _file_name() -> str:
    # Sorts by time; the random suffix keeps two messages in the same microsecond apart.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{secrets.token_hex(4)}.eml"


def _write_atomically(target: Path, data: bytes) -> None:
    # The temp file starts with a dot and ends in .tmp so that a reader globbing *.eml never
    # sees a half-written message; os.replace is atomic within one directory.
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
