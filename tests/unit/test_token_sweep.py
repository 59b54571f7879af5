"""The suite-wide invitation-token sweep (tests/token_sweep.py) finds what it is meant to."""

from __future__ import annotations

from email.message import EmailMessage

from tenantry.domain.invitations import new_invitation_token
from tests import token_sweep


def mailed_token() -> str:
    token, _ = new_invitation_token("org_sweep1")
    message = EmailMessage()
    message.set_content(f"Open https://tenantry.test/invitations/{token} to accept.")
    token_sweep.note_mailed(message)
    return token


def test_a_mailed_token_is_found_as_it_is_percent_encoded_or_inside_a_longer_word() -> None:
    token = mailed_token()
    secret = token.split(".", 1)[1]

    assert token_sweep.was_mailed(token)
    assert token_sweep.secrets_in(f'{{"link": "{token}"}}') == {secret}
    assert token_sweep.secrets_in(token.replace(".", "%2E").replace("-", "%2D")) == {secret}
    assert token_sweep.secrets_in(f"x{secret}y") == {secret}
    assert token_sweep.secrets_in("nothing here " + "a" * 60) == set()
