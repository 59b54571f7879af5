"""A mailer that hands each message to an SMTP server (plain, STARTTLS or implicit TLS)."""

from __future__ import annotations

import smtplib
import ssl
from typing import Literal, get_args

from tenantry.domain.model import EmailMessage
from tenantry.mail.mime import to_mime

TlsMode = Literal["none", "starttls", "ssl"]


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout: float = 10.0,
    ) -> None:
        if tls not in get_args(TlsMode):
            raise ValueError(f"tls must be one of {get_args(TlsMode)}, not {tls!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._tls = tls
        self._timeout = timeout

    def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, sender=self._sender)
        # A connection per message: the outbox sends few, and a long-lived connection would
        # need reconnect logic for servers that drop idle clients.
        with self._connect() as client:
            if self._tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self._username is not None:
                client.login(self._username, self._password or "")
            client.send_message(mime)

    def _connect(self) -> smtplib.SMTP:
        if self._tls == "ssl":
            return smtplib.SMTP_SSL(
                self._host,
                self._port,
                timeout=self._timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout)
