"""`tenantry.aws.outbox.handler`: the background work of a Lambda deployment, for an
EventBridge schedule (or a DynamoDB stream) to invoke: it sends the due email of the outbox,
batch after batch, and starts the provisioning jobs whose start is still queued, then returns
what it did. It stops taking batches while enough of the invocation's time is left to finish
the one in hand: an email is never cut off between sending and being marked sent."""

from __future__ import annotations

from typing import Any

import structlog

from tenantry.bootstrap import Tenantry, bootstrap
from tenantry.flows.dispatch import dispatch_due
from tenantry.logging import configure_logging
from tenantry.settings import Settings

log = structlog.get_logger()

BATCH_SIZE = 20
# Time kept in hand when taking another batch: a batch of SMTP or SES sends fits in it.
RESERVE_MILLISECONDS = 30_000


def run_background_work(tenantry: Tenantry, context: Any = None) -> dict[str, int]:
    """One invocation's work: email until the outbox has nothing due, then the job relay."""
    sent = failed = dead = 0
    while _time_left(context):
        report = dispatch_due(
            tenantry.store.unit_of_work,
            tenantry.mailer,
            clock=tenantry.clock,
            max_attempts=tenantry.settings.outbox_max_attempts,
            batch_size=BATCH_SIZE,
        )
        sent, failed, dead = sent + report.sent, failed + report.failed, dead + report.dead
        if report.handled < BATCH_SIZE:
            break
    jobs_started = tenantry.jobs.run_due()
    done = {"sent": sent, "failed": failed, "dead": dead, "jobs_started": jobs_started}
    log.info("outbox_dispatched", **done)
    return done


def _time_left(context: Any) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining is None or remaining() > RESERVE_MILLISECONDS


def from_environment() -> Tenantry:
    settings = Settings()
    configure_logging(as_json=True)
    tenantry = bootstrap(settings)
    tenantry.store.check_tenant_isolation()
    return tenantry


_warm: Tenantry | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """The Lambda entry point (`tenantry.aws.outbox.handler`); the event is not read."""
    global _warm  # the warm container's one tenantry, built on first use
    if _warm is None:
        _warm = from_environment()
    return run_background_work(_warm, context)
