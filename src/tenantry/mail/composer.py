"""The account emails as the services ask for them (`MessageComposer`): templates, with links
to the product's pages under the public URL."""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.domain.invitations import Invitation
from tenantry.domain.model import EmailMessage, User
from tenantry.mail import templates


@dataclass(frozen=True, slots=True)
class TemplateComposer:
    public_url: str

    def verification_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/verify-email", token)
        return templates.verification_email(user.email, user.name, link)

    def password_reset_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/reset-password", token)
        return templates.password_reset_email(user.email, user.name, link)

    def password_changed_email(self, user: User) -> EmailMessage:
        return templates.password_changed_email(user.email, user.name)

    def existing_account_email(self, user: User, token: str) -> EmailMessage:
        link = templates.build_link(self.public_url, "/reset-password", token)
        return templates.existing_account_email(user.email, user.name, link)

    def sign_in_attempts_email(self, user: User) -> EmailMessage:
        return templates.sign_in_attempts_email(user.email, user.name)

    def invitation_email(
        self, invitation: Invitation, org_name: str, token: str, *, resent: bool
    ) -> EmailMessage:
        link = templates.build_link(self.public_url, "/invitations/{token}", token)
        return templates.invitation_email(
            invitation.email,
            org_name=org_name,
            inviter_name=invitation.inviter_name,
            role=invitation.org_role.value,
            link=link,
            expires=invitation.expires_at.strftime("%d %B %Y, %H:%M UTC"),
            resent=resent,
        )
