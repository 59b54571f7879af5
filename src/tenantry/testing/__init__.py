"""tenantry's aggressor harness, for the test suite and for `tenantry probe --url URL`.

It builds two tenants through the HTTP API (`WorldBuilder`), reads the routes from the
target's OpenAPI document, and calls every route with every kind of principal of one tenant
against the other's ids (`Probe`). See docs/security.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from tenantry.testing.cases import CASES, Case, Oracle
from tenantry.testing.inbox import Inbox, SmtpInbox
from tenantry.testing.issuer import ProbeIssuer, trusted_issuer_entry
from tenantry.testing.oracles import Finding
from tenantry.testing.probe import Probe, Progress, SystemChain
from tenantry.testing.report import Report
from tenantry.testing.wire import Client, ProbeError, expect, send
from tenantry.testing.world import Kind, Principal, Tenant, World, WorldBuilder

__all__ = [
    "CASES",
    "Case",
    "Client",
    "Finding",
    "Inbox",
    "Kind",
    "Oracle",
    "Principal",
    "Probe",
    "ProbeError",
    "ProbeIssuer",
    "Report",
    "SmtpInbox",
    "Tenant",
    "World",
    "WorldBuilder",
    "probe",
    "trusted_issuer_entry",
]


def probe(
    client: Client,
    inbox: Inbox,
    *,
    openapi: Mapping[str, Any] | None = None,
    issuer: ProbeIssuer | None = None,
    system_chain: SystemChain | None = None,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    expiry_wait_limit: float = 900.0,
    mail_timeout: float = 30.0,
    progress: Progress | None = None,
) -> Report:
    """Build the world on the target behind `client` and walk every route of its API."""
    if openapi is None:
        answer = send(client, "GET", "/openapi.json")
        if answer.status_code == 404:
            raise ProbeError(
                "the target serves no /openapi.json (TENANTRY_DOCS_ENABLED is off): "
                "pass the document with --openapi FILE"
            )
        openapi = expect(answer, 200, "read the OpenAPI document")
    world = WorldBuilder(client, inbox, issuer=issuer, mail_timeout=mail_timeout).build()
    walk = Probe(
        client,
        world,
        openapi,
        system_chain=system_chain,
        now=now,
        sleep=sleep,
        expiry_wait_limit=expiry_wait_limit,
        progress=progress,
    )
    return walk.run()
