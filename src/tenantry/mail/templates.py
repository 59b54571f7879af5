"""The account emails, rendered with Jinja2 from the text and HTML templates in
`mail/templates/` (or an operator's own, `TENANTRY_MAIL_TEMPLATES_DIR`, which override them
file by file).

HTML templates are autoescaped: every value in them is escaped, so an organisation called
`<b>Acme</b>` shows as text. Text templates take values as they are. A template that names a
value the renderer does not pass fails loudly (`StrictUndefined`) rather than sending a blank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from urllib.parse import quote

import jinja2

from tenantry.domain.errors import Invalid
from tenantry.domain.model import EmailMessage

_SAMPLE_TO = "someone@example.invalid"


class EmailKind(StrEnum):
    """The `kind` of each account email, as stored in the outbox and sent as X-Tenantry-Kind."""

    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a name, not a secret)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    EXISTING_ACCOUNT = "existing_account"  # a sign-up with the address of an account
    SIGN_IN_ATTEMPTS = "sign_in_attempts"  # someone is trying passwords on the account
    INVITATION = "invitation"  # an address asked to join an organisation (and its resends)


def build_link(public_url: str, path: str, token: str) -> str:
    """`{public_url}/{path}?token=…`, or the token in place of `{token}` when the path has one.

    The token is percent-encoded either way, and slashes between the parts are not doubled.
    """
    base = f"{public_url.rstrip('/')}/{path.lstrip('/')}"
    encoded = quote(token, safe="")
    if "{token}" in path:
        return base.replace("{token}", encoded)
    return f"{base}?token={encoded}"


class EmailTemplates:
    """Renders each account email: its subject, a text part and an HTML part."""

    def __init__(self, directory: Path | None = None) -> None:
        self._environment = _environment(directory)
        if directory is not None:
            self._check(directory)

    def _check(self, directory: Path) -> None:
        """Renders every email once, so that an operator's broken template stops the start
        (422-style `invalid_mail_template`) instead of failing the request that sends it."""
        link = "https://example.invalid/link"
        invitation = InvitationText("Org", "Inviter", "member", link, "1 January 2030, 00:00 UTC")
        samples: dict[str, Callable[[], EmailMessage]] = {
            "verify_email": lambda: self.verification_email(_SAMPLE_TO, "Name", link),
            "password_reset": lambda: self.password_reset_email(_SAMPLE_TO, "Name", link),
            "password_changed": lambda: self.password_changed_email(_SAMPLE_TO, "Name"),
            "existing_account": lambda: self.existing_account_email(_SAMPLE_TO, "Name", link),
            "sign_in_attempts": lambda: self.sign_in_attempts_email(_SAMPLE_TO, "Name"),
            "invitation": lambda: self.invitation_email(_SAMPLE_TO, invitation, resent=False),
            "invitation_resent": lambda: self.invitation_email(_SAMPLE_TO, invitation, resent=True),
        }
        for name, render in samples.items():
            try:
                render()
            except jinja2.TemplateError as error:
                raise Invalid(
                    f"the {name} email does not render from {directory} "
                    f"(TENANTRY_MAIL_TEMPLATES_DIR): {error.message or type(error).__name__}",
                    code="invalid_mail_template",
                ) from error

    def verification_email(self, to: str, name: str, link: str) -> EmailMessage:
        subject = "Verify your email address"
        return self._render(EmailKind.VERIFY_EMAIL, to, subject, name=name, link=link)

    def password_reset_email(self, to: str, name: str, link: str) -> EmailMessage:
        subject = "Reset your password"
        return self._render(EmailKind.PASSWORD_RESET, to, subject, name=name, link=link)

    def password_changed_email(self, to: str, name: str) -> EmailMessage:
        subject = "Your password was changed"
        return self._render(EmailKind.PASSWORD_CHANGED, to, subject, name=name)

    def existing_account_email(self, to: str, name: str, link: str) -> EmailMessage:
        subject = "Someone tried to sign up with your email address"
        return self._render(EmailKind.EXISTING_ACCOUNT, to, subject, name=name, link=link)

    def sign_in_attempts_email(self, to: str, name: str) -> EmailMessage:
        subject = "Someone is trying to sign in to your account"
        return self._render(EmailKind.SIGN_IN_ATTEMPTS, to, subject, name=name)

    def invitation_email(
        self, to: str, invitation: InvitationText, *, resent: bool
    ) -> EmailMessage:
        subject = f"{invitation.inviter_name} invited you to join {invitation.org_name}"
        # A resend has its own template (`invitation_resent`): it says the earlier link is dead.
        template = "invitation_resent" if resent else "invitation"
        if resent:
            subject = f"Reminder: {subject}"
        values = {
            "org_name": invitation.org_name,
            "inviter_name": invitation.inviter_name,
            "role": invitation.role,
            "link": invitation.link,
            "expires": invitation.expires,
        }
        return self._render(EmailKind.INVITATION, to, subject, template=template, **values)

    def _render(
        self, kind: EmailKind, to: str, subject: str, *, template: str = "", **values: str
    ) -> EmailMessage:
        name = template or kind.value
        if "name" in values:
            values["name"] = values["name"].strip() or "there"
        text = self._environment.get_template(f"{name}.txt").render(values)
        page = self._environment.get_template(f"{name}.html").render(values, subject=subject)
        return EmailMessage(to=to, subject=subject, text=text, html=page, kind=kind.value)


@dataclass(frozen=True, slots=True)
class InvitationText:
    """What an invitation email says, already formatted."""

    org_name: str
    inviter_name: str
    role: str
    link: str
    expires: str


@cache
def _environment(directory: Path | None) -> jinja2.Environment:
    # Templates load on first use, not at import: importing tenantry does no I/O. An operator's
    # directory comes first, so one file there replaces ours and the rest still come from us.
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("tenantry.mail", "templates")]
    if directory is not None:
        loaders.insert(0, jinja2.FileSystemLoader(directory))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
