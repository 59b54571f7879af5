"""The account emails as the services ask for them (`MessageComposer`): templates, with links
to the product's pages under the public URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tenantry.domain.invitations import Invitation
from tenantry.domain.model import EmailMessage, User
from tenantry.mail import templates
from tenantry.mail.templates import EmailTemplates, InvitationText


@dataclass(frozen=True, slots=True)
class TemplateComposer:
    public_url: str
    templates_dir: Path | None = None  # an operator's templates, ahead of tenantry's own
    _templates: EmailTemplates = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_templates", EmailTemplates(self.templates_dir))

    def verification_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/verify-email", token)
        return self._templates.verification_email(user.email, user.name, link)

    def password_reset_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/reset-password", token)
        return self._templates.password_reset_email(user.email, user.name, link)

    def password_changed_email(self, user: User) -> EmailMessage:
        return self._templates.password_changed_email(user.email, user.name)

    def existing_account_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/reset-password", token)
        return self._templates.existing_account_email(user.email, user.name, link)

    def sign_in_attempts_email(self, user: User) -> EmailMessage:
        return self._templates.sign_in_attempts_email(user.email, user.name)

    def invitation_email(
        self, invitation: Invitation, org_name: str, token: str, *, resent: bool
    ) -> EmailMessage:
        link = templates.build_link(self.public_url, "/invitations/{token}", token)
        text = InvitationText(
            org_name=org_name,
            inviter_name=invitation.inviter_name,
            role=invitation.org_role.value,
            link=link,
            expires=invitation.expires_at.strftime("%d %B %Y, %H:%M UTC"),
        )
        return self._templates.invitation_email(invitation.email, text, resent=resent)
