"""`tenantry worker`: runs provisioning on Temporal (`TENANTRY_WORKFLOWS=temporal`)."""

from __future__ import annotations

import typer

from tenantry.bootstrap import Tenantry
from tenantry.cli.command import err, load_settings, open_tenantry, out, stopped_by_signals
from tenantry.flows.dispatcher import JobRelay


def worker() -> None:
    """Run the provisioning workflows and their activities from Temporal's task queue, and
    start the workflows whose start is still queued (registered while Temporal was down),
    until SIGINT or SIGTERM."""
    settings = load_settings()
    if settings.workflows != "temporal":
        err.print(
            "[red]error[/] workflows_inline: provisioning runs inline; `tenantry worker` is for "
            "TENANTRY_WORKFLOWS=temporal"
        )
        raise typer.Exit(code=2)
    tenantry = open_tenantry(settings)
    try:
        _serve(tenantry)
    finally:
        tenantry.close()
    out.print("stopped")


def _serve(tenantry: Tenantry) -> None:
    # Imported here: temporalio is an extra, and open_tenantry already said if it is missing.
    from tenantry.flows.temporal.worker import provisioning_worker

    relay = JobRelay(tenantry.jobs, poll_seconds=tenantry.settings.outbox_poll_seconds)
    worker = provisioning_worker(tenantry)
    relay.start()
    try:
        with stopped_by_signals(worker.stop):
            worker.run()
    except RuntimeError as error:  # the SDK's "failed client connect" and its kin
        err.print(f"[red]error[/] temporal_unavailable: {error}")
        raise typer.Exit(code=1) from None
    finally:
        relay.stop()
