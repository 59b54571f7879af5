from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Literal

import pytest

from tenantry.domain.model import EmailMessage
from tenantry.mail.console import ConsoleMailer
from tenantry.mail.factory import build_mailer
from tenantry.mail.files import FilesMailer
from tenantry.mail.smtp import SmtpMailer
from tenantry.mail.templates import EmailKind, EmailTemplates, build_link
from tenantry.settings import Settings
from tests.harness import SENDER, smtp_mailer
from tests.smtp_server import SmtpServer, unused_port

LINK = "https://app.example/verify-email?token=abc123"
TEMPLATES = EmailTemplates()


def a_message(to: str = "ada@example.com") -> EmailMessage:
    return TEMPLATES.verification_email(to, "Ada Lovelace", LINK)


def parts(message: MimeMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


@pytest.mark.smtp
def test_smtp_mailer_delivers_text_and_html_with_headers(smtp_server: SmtpServer) -> None:
    mailer = smtp_mailer(smtp_server.port, timeout=5)

    mailer.send(a_message())

    [received] = smtp_server.wait_for(1)
    assert received["From"] == SENDER
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Verify your email address"
    assert received["X-Tenantry-Kind"] == "verify_email"
    assert received["Message-ID"].endswith("@tenantry.test>")
    assert received.get_content_type() == "multipart/alternative"
    text, html = parts(received)
    assert LINK in text
    assert f'href="{LINK}"' in html
    assert smtp_server.recipients == [["ada@example.com"]]


def test_smtp_mailer_raises_when_the_server_is_unreachable() -> None:
    mailer = smtp_mailer(unused_port(), timeout=2)

    with pytest.raises(ConnectionRefusedError):
        mailer.send(a_message())


def test_smtp_mailer_refuses_an_unknown_tls_mode() -> None:
    with pytest.raises(ValueError, match="tls must be one of"):
        SmtpMailer(host="localhost", port=25, sender=SENDER, tls="always")  # type: ignore[arg-type]


def test_a_header_injection_in_the_recipient_is_refused(tmp_path: Path) -> None:
    mailer = FilesMailer(tmp_path, sender=SENDER)

    with pytest.raises(ValueError, match="linefeed or carriage return"):
        mailer.send(a_message(to="ada@example.com\r\nBcc: eve@example.com"))

    assert list(tmp_path.iterdir()) == []


def test_files_mailer_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    outbox_dir = tmp_path / "mail"
    mailer = FilesMailer(outbox_dir, sender=SENDER)

    mailer.send(a_message("first@example.com"))
    mailer.send(a_message("second@example.com"))

    files = sorted(outbox_dir.iterdir())
    assert [file.suffix for file in files] == [".eml", ".eml"]
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert [message["To"] for message in parsed] == ["first@example.com", "second@example.com"]
    text, html = parts(parsed[0])
    assert LINK in text
    assert "Ada Lovelace" in html
    assert b"\r\n" in files[0].read_bytes()


def test_console_mailer_prints_a_framed_message_with_the_link(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ConsoleMailer().send(a_message())

    out = capsys.readouterr().out
    assert "To:      ada@example.com" in out
    assert "Subject: Verify your email address" in out
    assert f"\n{LINK}\n" in out
    assert "<p>" not in out


def test_html_escapes_every_interpolated_value_and_text_keeps_them_raw() -> None:
    link = "https://app.example/reset-password?token=a&b=<c>"

    message = TEMPLATES.password_reset_email("ada@example.com", "<script>alert(1)</script>", link)

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert 'href="https://app.example/reset-password?token=a&amp;b=&lt;c&gt;"' in message.html
    assert "<script>alert(1)</script>" in message.text
    assert link in message.text
    assert message.kind == EmailKind.PASSWORD_RESET


def test_every_account_email_has_both_parts_and_a_kind() -> None:
    messages = [
        TEMPLATES.verification_email("a@example.com", "Ada", LINK),
        TEMPLATES.password_reset_email("a@example.com", "Ada", LINK),
        TEMPLATES.password_changed_email("a@example.com", "Ada"),
    ]

    assert [m.kind for m in messages] == ["verify_email", "password_reset", "password_changed"]
    for message in messages:
        assert message.to == "a@example.com"
        assert "Hello Ada," in message.text
        assert "<p>Hello Ada,</p>" in message.html
        assert f"<title>{message.subject}</title>" in message.html
        assert "$" not in message.text + message.html


@pytest.mark.parametrize(
    ("public_url", "path", "token", "expected"),
    [
        (
            "https://app.example",
            "verify-email",
            "abc",
            "https://app.example/verify-email?token=abc",
        ),
        (
            "https://app.example/",
            "/reset-password",
            "a",
            "https://app.example/reset-password?token=a",
        ),
        (
            "https://x.test/app/",
            "verify-email",
            "a+b/c=",
            "https://x.test/app/verify-email?token=a%2Bb%2Fc%3D",
        ),
        (
            "https://app.example",
            "/invitations/{token}",
            "t/k",
            "https://app.example/invitations/t%2Fk",
        ),
    ],
)
def test_build_link(public_url: str, path: str, token: str, expected: str) -> None:
    assert build_link(public_url, path, token) == expected


def test_build_mailer_follows_the_mailer_setting(tmp_path: Path) -> None:
    def settings(mailer: Literal["console", "files", "smtp"]) -> Settings:
        return Settings(mailer=mailer, mail_dir=tmp_path, _env_file=None)

    assert isinstance(build_mailer(settings("console")), ConsoleMailer)
    assert isinstance(build_mailer(settings("files")), FilesMailer)
    assert isinstance(build_mailer(settings("smtp")), SmtpMailer)
