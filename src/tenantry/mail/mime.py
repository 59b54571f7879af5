"""The one place a domain `EmailMessage` becomes an RFC 5322 message, for every sender."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid, parseaddr

from tenantry.domain.model import EmailMessage


def to_mime(message: EmailMessage, *, sender: str) -> MimeMessage:
    """A multipart/alternative message, text first so that plain clients show the text.

    The default policy refuses header values containing CR or LF, which keeps a hostile
    address or subject from injecting headers.
    """
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    domain = _domain_of(sender)
    given = message.message_id
    mime["Message-ID"] = f"<{given}@{domain}>" if given else make_msgid(domain=domain)
    mime["X-Tenantry-Kind"] = message.kind
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime


def _domain_of(address: str) -> str:
    # make_msgid would otherwise call socket.getfqdn(), which can block on DNS.
    _, addr = parseaddr(address)
    _, _, domain = addr.rpartition("@")
    return domain or "localhost"
