"""The account emails as the services ask for them (`MessageComposer`): templates, with links
to the product's pages under the public URL, sealed for the outbox when a seal is given."""

from __future__ import annotations

from pathlib import Path

from tenantry.domain.invitations import Invitation
from tenantry.domain.model import EmailMessage, User
from tenantry.mail.sealing import BodySeal
from tenantry.mail.templates import EmailTemplates, InvitationText, build_link


class TemplateComposer:
    def __init__(
        self,
        public_url: str,
        templates_dir: Path | None = None,  # an operator's templates, ahead of tenantry's own
        *,
        seal: BodySeal | None = None,
    ) -> None:
        self.public_url = public_url
        self._templates = EmailTemplates(templates_dir)
        self._seal = seal

    def verification_email(self, user: User, token: str) -> EmailMessage:
        link = build_link(self.public_url, "/verify-email", token)
        return self._ready(self._templates.verification_email(user.email, user.name, link))

    def password_reset_email(self, user: User, token: str) -> EmailMessage:
        link = build_link(self.public_url, "/reset-password", token)
        return self._ready(self._templates.password_reset_email(user.email, user.name, link))

    def password_changed_email(self, user: User) -> EmailMessage:
        return self._ready(self._templates.password_changed_email(user.email, user.name))

    def existing_account_email(self, user: User, token: str) -> EmailMessage:
        link = build_link(self.public_url, "/reset-password", token)
        return self._ready(self._templates.existing_account_email(user.email, user.name, link))

    def sign_in_attempts_email(self, user: User) -> EmailMessage:
        return self._ready(self._templates.sign_in_attempts_email(user.email, user.name))

    def invitation_email(
        self, invitation: Invitation, org_name: str, token: str, *, resent: bool
    ) -> EmailMessage:
        text = InvitationText(
            org_name=org_name,
            inviter_name=invitation.inviter_name,
            role=invitation.org_role.value,
            link=build_link(self.public_url, "/invitations/{token}", token),
            expires=invitation.expires_at.strftime("%d %B %Y, %H:%M UTC"),
        )
        return self._ready(self._templates.invitation_email(invitation.email, text, resent=resent))

    def _ready(self, message: EmailMessage) -> EmailMessage:
        return message if self._seal is None else self._seal.seal(message)
