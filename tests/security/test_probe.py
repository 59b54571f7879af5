"""The aggressor harness (`tenantry.testing`) against the app in process, on every store:
two tenants built through the HTTP API, every route of the live OpenAPI document called by
every kind of principal of one tenant with the other's ids, each call beside a twin naming a
random id. Here the probe also reads the system chain, which HTTP does not show, so every
refusal's audit event is checked. `tests/integration/test_cli_probe.py` runs it through
`tenantry probe` against a started server."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.bootstrap import Tenantry
from tenantry.http.app import create_app
from tenantry.testing import CASES, Kind, Oracle, ProbeIssuer, Report, probe
from tenantry.testing.attacks import Attack, forged
from tenantry.testing.inbox import plain_text
from tenantry.testing.issuer import public_jwks
from tests.harness import (
    ON_EVERY_STORE,
    Mailbox,
    StoreTarget,
    TestClock,
    audit_events,
    audit_head,
    build_tenantry,
    test_settings,
)
from tests.in_process import InProcessClient
from tests.servers import free_port
from tests.smtp_server import HOST, SmtpServer

pytestmark = pytest.mark.smtp


class MailboxInbox:
    """The suite's mailbox (the outbox sent through real SMTP to aiosmtpd) as the probe reads it."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def texts_to(self, address: str) -> list[str]:
        return [plain_text(message) for message in self.mailbox.messages_to(address)]


class SystemChain:
    """The system chain's events since the probe began, read through the store."""

    def __init__(self, target: StoreTarget) -> None:
        self.target = target
        self.seen = audit_head(target, None)

    def __call__(self, request_ids: Collection[str]) -> list[dict[str, Any]]:
        events = audit_events(self.target, org_id=None, after_seq=self.seen)
        if events:
            self.seen = events[-1].seq or self.seen
        wanted = set(request_ids)
        return [
            {
                "org_id": e.org_id,
                "action": e.action,
                "outcome": e.outcome.value,
                "reason": e.reason,
                "actor_id": e.actor_id,
                "request_id": e.request_id,
            }
            for e in events
            if e.request_id in wanted
        ]


@pytest.fixture
def issuer() -> Iterator[ProbeIssuer]:
    with ProbeIssuer(HOST, free_port()) as running:
        yield running


def probed(
    target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    issuer: ProbeIssuer,
    around: Callable[[ASGIApp, Tenantry], ASGIApp] = lambda app, _: app,
) -> tuple[Tenantry, Report]:
    """The probe's report on tenantry in process (its app inside `around`, if given)."""
    settings = test_settings(target, tmp_path, trusted_issuers=[issuer.entry])
    tenantry = build_tenantry(settings, clock, smtp_server)
    try:
        app = around(create_app(tenantry), tenantry)
        report = probe(
            InProcessClient(app, raise_server_exceptions=False),
            MailboxInbox(Mailbox(tenantry, smtp_server)),
            issuer=issuer,
            system_chain=SystemChain(target),
            now=lambda: clock.now().timestamp(),
            sleep=lambda seconds: clock.advance(seconds=seconds),
        )
        return tenantry, report
    finally:
        tenantry.close()


@ON_EVERY_STORE
def test_no_route_lets_one_tenant_see_or_touch_another(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    issuer: ProbeIssuer,
) -> None:
    tenantry, report = probed(store_target, tmp_path, clock, smtp_server, issuer)

    assert not report.findings, "\n".join(str(f) for f in report.findings)
    assert report.ok
    assert report.not_set_up == {}
    assert set(report.principals) == {kind.value for kind in Kind}
    # Every route served is in the matrix, and the matrix names no route that is not.
    served = create_app(tenantry).openapi()["paths"]
    assert len(report.routes) == sum(len(operations) for operations in served.values())
    assert report.uncovered == []
    assert report.not_served == []
    assert set(report.exempt) == {c.route for c in CASES if c.oracle is Oracle.EXEMPT}
    # Each call with a twin was compared with it; every refusal's events were read.
    assert report.pairs > 500
    assert report.audited == report.pairs - PUBLIC_PAIRS
    assert report.audit_unseen == 0
    assert report.attack_tokens == len(forged_from_any_token())


def forged_from_any_token() -> list[Attack]:
    """The corpus the probe tries: its length does not depend on the token it is made from."""
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"sub": "usr_x"}, key, "ES256", headers={"kid": "k", "typ": "at+jwt"})
    return forged(token, public_jwks(key, "k", "ES256"), lure_url="http://127.0.0.1:9")


PUBLIC_PAIRS = sum(1 for c in CASES if c.oracle is Oracle.PUBLIC and c.foreign())


class LeakyTarget:
    """tenantry with a hole cut in it: a refusal about an organisation that exists answers
    403 (not 404), names it in a header and lets any site read it. What the probe is for is
    to see such things."""

    def __init__(self, app: ASGIApp, tenantry: Tenantry) -> None:
        self.app, self.tenantry = app, tenantry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope.get("path", "").split("/")
        under_an_organisation = len(parts) > 3 and parts[1:3] == ["v1", "organisations"]
        found = self.existing(parts[3]) if under_an_organisation else None

        async def leaky_send(message: Message) -> None:
            start = message["type"] == "http.response.start"
            if found is not None and start and message["status"] == 404:
                message["status"] = 403
                told = [(b"x-org", found.encode()), (b"access-control-allow-origin", b"*")]
                message["headers"] = [*message.get("headers", []), *told]
            await send(message)

        await self.app(scope, receive, leaky_send)

    def existing(self, org_id: str) -> str | None:
        with self.tenantry.store.unit_of_work() as uow:  # SQLite: no row-level security
            org = uow.organisations.get(org_id)
        return org.name if org is not None else None


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_a_target_that_tells_real_from_random_ids_is_caught(
    store_target: StoreTarget,
    tmp_path: Path,
    clock: TestClock,
    smtp_server: SmtpServer,
    issuer: ProbeIssuer,
) -> None:
    _, report = probed(store_target, tmp_path, clock, smtp_server, issuer, around=LeakyTarget)

    assert not report.ok
    organisation = [c.route for c in CASES if c.oracle is Oracle.ORGANISATION]
    found = {(f.route, f.principal) for f in report.findings if f.variant == "its organisation"}
    members = [k.value for k in Kind if k not in {Kind.ANONYMOUS, Kind.EXPIRED, Kind.EXTERNAL}]
    assert found >= {(route, kind) for route in organisation for kind in members}
    problems = {f.problem for f in report.findings if f.route == "GET /v1/organisations/{org_id}"}
    assert any("reveals 'Borealis Probe" in p for p in problems), problems
    assert "answered 403, not 404" in problems
    assert any(p.startswith("answered 403 organisation_not_found, but 404") for p in problems)
    assert "another site's page may read the answer (access-control-allow-origin)" in problems
