"""The account emails, rendered from the text and HTML files in `mail/templates/`.

Every value interpolated into HTML is escaped; the text part takes values as they are.
"""

from __future__ import annotations

import html
from enum import StrEnum
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import quote

from tenantry.domain.model import EmailMessage


class EmailKind(StrEnum):
    """The `kind` of each account email, as stored in the outbox and sent as X-Tenantry-Kind."""

    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a name, not a secret)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    EXISTING_ACCOUNT = "existing_account"  # a sign-up with the address of an account
    SIGN_IN_ATTEMPTS = "sign_in_attempts"  # someone is trying passwords on the account
    INVITATION = "invitation"  # an address asked to join an organisation (and its resends)


def verification_email(to: str, name: str, link: str) -> EmailMessage:
    return _render(EmailKind.VERIFY_EMAIL, to, "Verify your email address", name=name, link=link)


def password_reset_email(to: str, name: str, link: str) -> EmailMessage:
    return _render(EmailKind.PASSWORD_RESET, to, "Reset your password", name=name, link=link)


def password_changed_email(to: str, name: str) -> EmailMessage:
    return _render(EmailKind.PASSWORD_CHANGED, to, "Your password was changed", name=name)


def existing_account_email(to: str, name: str, link: str) -> EmailMessage:
    subject = "Someone tried to sign up with your email address"
    return _render(EmailKind.EXISTING_ACCOUNT, to, subject, name=name, link=link)


def sign_in_attempts_email(to: str, name: str) -> EmailMessage:
    subject = "Someone is trying to sign in to your account"
    return _render(EmailKind.SIGN_IN_ATTEMPTS, to, subject, name=name)


def invitation_email(
    to: str, *, org_name: str, inviter_name: str, role: str, link: str, expires: str, resent: bool
) -> EmailMessage:
    subject = f"{inviter_name} invited you to join {org_name}"
    if resent:
        subject = f"Reminder: {subject}"
    values = {
        "name": "",
        "org_name": org_name,
        "inviter_name": inviter_name,
        "role": role,
        "link": link,
        "expires": expires,
    }
    return _render(EmailKind.INVITATION, to, subject, **values)


def build_link(public_url: str, path: str, token: str) -> str:
    """`{public_url}/{path}?token=…`, or the token in place of `{token}` when the path has one.

    The token is percent-encoded either way, and slashes between the parts are not doubled.
    """
    base = f"{public_url.rstrip('/')}/{path.lstrip('/')}"
    encoded = quote(token, safe="")
    if "{token}" in path:
        return base.replace("{token}", encoded)
    return f"{base}?token={encoded}"


def _render(kind: EmailKind, to: str, subject: str, **values: str) -> EmailMessage:
    values["name"] = values["name"].strip() or "there"
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    body = _template(f"{kind}.html").substitute(escaped)
    page = _template("layout.html").substitute(subject=html.escape(subject), body=body)
    text = _template(f"{kind}.txt").substitute(values)
    return EmailMessage(to=to, subject=subject, text=text, html=page, kind=kind.value)


@cache
def _template(file_name: str) -> Template:
    # Read on first use, not at import: importing tenantry does no I/O.
    source = resources.files("tenantry.mail").joinpath("templates", file_name)
    return Template(source.read_text(encoding="utf-8"))
