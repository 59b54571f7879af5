"""Chooses the mailer named by `TENANTRY_MAILER`."""

from __future__ import annotations

from typing import assert_never

from tenantry.mail.console import ConsoleMailer
from tenantry.mail.files import FilesMailer
from tenantry.mail.ses import ses_mailer
from tenantry.mail.smtp import SmtpMailer
from tenantry.outbox.ports import Mailer
from tenantry.settings import Settings


def build_mailer(settings: Settings) -> Mailer:
    match settings.mailer:
        case "console":
            return ConsoleMailer()
        case "files":
            return FilesMailer(settings.mail_dir, sender=settings.mail_from)
        case "smtp":
            return _smtp_mailer(settings)
        case "ses":
            return ses_mailer(settings)
        case _:
            assert_never(settings.mailer)


def _smtp_mailer(settings: Settings) -> SmtpMailer:
    password = settings.smtp_password
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=password.get_secret_value() if password is not None else None,
        tls=settings.smtp_tls,
    )
