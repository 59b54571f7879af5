"""Email bodies sealed while they wait in the outbox.

The bodies carry one-time links: the verification, reset and invitation tokens that the rest of
the store keeps only as hashes. Sealed, the outbox is not the one table where a reader of the
database (a replica, a backup, a support query) finds them live. The composer seals each body
under a key derived from `TENANTRY_SECRET_KEY`; the mailer opens it just before sending
(`OpeningMailer`); a sent entry keeps no bodies at all.

A body written before sealing existed has no prefix and is sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography.fernet import Fernet, InvalidToken

from tenantry.domain.errors import Invalid
from tenantry.domain.model import EmailMessage
from tenantry.outbox.ports import Mailer
from tenantry.tokens.cipher import derive_fernet_key

# Fixed, versioned labels: changing either makes every sealed body in the outbox unreadable.
_SALT = b"tenantry/outbox-body-sealing/v1"
_INFO = b"tenantry fernet key for outbox bodies"
_PREFIX = "sealed:v1:"


class BodySeal:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the secret key must not be empty")
        self._fernet = Fernet(derive_fernet_key(secret, salt=_SALT, info=_INFO))

    def seal(self, message: EmailMessage) -> EmailMessage:
        return replace(message, text=self._sealed(message.text), html=self._sealed(message.html))

    def open(self, message: EmailMessage) -> EmailMessage:
        """The message with its bodies readable again.

        Raises `Invalid` `outbox_unsealable` when they were sealed under another secret key:
        sending it again cannot help, so the dispatcher marks the entry dead at once.
        """
        return replace(message, text=self._opened(message.text), html=self._opened(message.html))

    def _sealed(self, body: str) -> str:
        return _PREFIX + self._fernet.encrypt(body.encode("utf-8")).decode("ascii")

    def _opened(self, body: str) -> str:
        if not body.startswith(_PREFIX):
            return body
        try:
            return self._fernet.decrypt(body.removeprefix(_PREFIX).encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise Invalid(
                "the email was sealed under another TENANTRY_SECRET_KEY and cannot be opened",
                code="outbox_unsealable",
            ) from exc


@dataclass(frozen=True, slots=True)
class OpeningMailer:
    """A mailer that opens sealed bodies, then hands the message to the real sender."""

    inner: Mailer
    seal: BodySeal

    def send(self, message: EmailMessage) -> None:
        self.inner.send(self.seal.open(message))
