"""The bodies waiting in the outbox are sealed (they carry live one-time links), and opened only
by the mailer on the way out."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantry.domain.model import OutboxStatus
from tenantry.flows.dispatch import DispatchReport, dispatch_due
from tenantry.store.sql.outbox import outbox
from tests.harness import (
    ON_EVERY_STORE_USED,
    PASSWORD,
    Api,
    StoreTarget,
    TestClock,
    build_tenantry,
    dynamo_rows,
    privileged,
    test_settings,
    unique_email,
)
from tests.smtp_server import SmtpServer

pytestmark = ON_EVERY_STORE_USED


def stored(target: StoreTarget, recipient: str) -> list[tuple[str, str, str, str | None]]:
    if target.name == "dynamo":
        found = [
            row for row in dynamo_rows(target.url, "outbox_entry") if row.recipient == recipient
        ]
        return [(r.status, r.text_body, r.html_body, getattr(r, "last_error", None)) for r in found]
    query = sa.select(
        outbox.c.status, outbox.c.text_body, outbox.c.html_body, outbox.c.last_error
    ).where(outbox.c.recipient == recipient)
    with privileged(target) as db:
        return [(r.status, r.text_body, r.html_body, r.last_error) for r in db.execute(query)]


def test_an_invitation_waits_sealed_and_arrives_readable(
    api: Api, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    email = unique_email("ivy")

    made = api.client.post(
        f"/v1/organisations/{org['id']}/invitations", json={"email": email}, headers=owner.auth
    )
    [(status, text, html, _)] = stored(store_target, email)
    token = api.mailbox.last_invitation_token(email)  # delivers it
    [(status_after, text_after, html_after, _)] = stored(store_target, email)

    assert made.status_code == 201, made.text
    assert status == OutboxStatus.PENDING.value
    assert text.startswith("sealed:v1:")
    assert html.startswith("sealed:v1:")
    secret = token.split(".", 1)[1]
    assert secret not in text + html
    assert "invit" not in text.lower() + html.lower()  # nothing of the message shows
    assert (status_after, text_after, html_after) == (OutboxStatus.SENT.value, "", "")
    accepted = api.client.post(
        f"/v1/invitations/{token}/accept", json={"name": "Ivy", "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_an_email_sealed_under_another_secret_key_is_dead_at_once_and_not_sent(
    api: Api,
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
) -> None:
    recipient = unique_email("new")
    api.signup(recipient)
    other_settings = test_settings(store_target, tmp_path, secret_key="another-secret-" + "y" * 40)
    rekeyed = build_tenantry(other_settings, clock, smtp_server)
    try:
        report = dispatch_due(
            rekeyed.store.unit_of_work, rekeyed.mailer, clock=clock, max_attempts=8
        )
    finally:
        rekeyed.close()

    [(status, text, _, last_error)] = stored(store_target, recipient)
    assert report == DispatchReport(dead=1)
    assert status == OutboxStatus.DEAD.value
    assert last_error is not None
    assert "another TENANTRY_SECRET_KEY" in last_error
    assert text.startswith("sealed:v1:")  # kept: the right key can still send it
    assert smtp_server.messages == []
