"""`tenantry probe --url URL`: the aggressor walk (`tenantry.testing`) against a running
tenantry, to point at your own deployment. See docs/security.md#the-probe.

It needs the target's mail: start the target with `TENANTRY_MAILER=smtp` and
`TENANTRY_SMTP_HOST`/`TENANTRY_SMTP_PORT` naming the probe's `--smtp` address. With
`--issuer-port`, the probe is also an external token issuer the target must trust. Exit
status: 0 when nothing leaked, 1 on any finding or a route the matrix lacks, 2 when the
world could not be built.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from tenantry.cli.command import err, out, print_json

if TYPE_CHECKING:
    from tenantry.testing import Report

FINDINGS_SHOWN = 50


def probe(
    url: Annotated[str, typer.Option("--url", help="The target's base URL.")],
    smtp: Annotated[
        str, typer.Option("--smtp", help="HOST:PORT the probe receives the target's mail on.")
    ] = "127.0.0.1:8025",
    issuer_port: Annotated[
        int | None,
        typer.Option(
            "--issuer-port",
            help="Serve the probe's external issuer (its JWKS) on this loopback port; the "
            "target must trust it (docs/security.md).",
        ),
    ] = None,
    openapi: Annotated[
        Path | None,
        typer.Option("--openapi", help="The OpenAPI document, where the target serves none."),
    ] = None,
    expiry_wait: Annotated[
        float, typer.Option("--expiry-wait", help="Longest wait, in s, for a token to expire.")
    ] = 900.0,
    mail_timeout: Annotated[
        float, typer.Option("--mail-timeout", help="Longest wait, in s, for one email.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Two tenants on the target, every route called by every kind of principal of one
    with the other's ids: prints routes, principals, calls and leaks; non-zero on any leak."""
    try:
        import httpx
    except ImportError:  # an optional dependency, as for tenantry.client
        err.print("[red]error[/] probe_unavailable: pip install 'tenantry[probe]'")
        raise typer.Exit(code=2) from None
    # Here, not at the top: every other command starts without the harness (17 ms).
    from tenantry.testing import ProbeError, ProbeIssuer, SmtpInbox
    from tenantry.testing import probe as walk

    host, _, port = smtp.rpartition(":")
    if not port.isdigit():
        err.print(f"[red]error[/] invalid_option: --smtp {escape(smtp)}: expected HOST:PORT")
        raise typer.Exit(code=2)
    document = _document(openapi) if openapi is not None else None
    try:
        with (
            ExitStack() as stack,
            Progress(console=err, transient=True, disable=not err.is_terminal) as bars,
        ):
            inbox = stack.enter_context(SmtpInbox(host or "127.0.0.1", int(port)))
            issuer = (
                stack.enter_context(ProbeIssuer("127.0.0.1", issuer_port)) if issuer_port else None
            )
            client = stack.enter_context(httpx.Client(base_url=url, timeout=30.0))
            task = bars.add_task("building the two tenants", total=None)

            def progress(route: str, done: int, total: int) -> None:
                bars.update(task, description=route, completed=done, total=total)

            report = walk(
                client,
                inbox,
                openapi=document,
                issuer=issuer,
                expiry_wait_limit=expiry_wait,
                mail_timeout=mail_timeout,
                progress=progress,
            )
    except (ProbeError, httpx.HTTPError, OSError) as failed:
        err.print(f"[red]error[/] probe_failed: {escape(str(failed))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    _show(report, as_json=as_json)
    raise typer.Exit(code=0 if report.ok else 1)


def _document(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as unreadable:
        err.print(f"[red]error[/] invalid_option: --openapi {escape(str(path))}: {unreadable}")
        raise typer.Exit(code=2) from None


def _show(report: Report, *, as_json: bool) -> None:
    if as_json:
        document: dict[str, Any] = {
            **report.summary(),
            "findings": [str(f) for f in report.findings],
            "exempt": report.exempt,
        }
        print_json(document)
        return
    table = Table("", "", show_header=False, box=None)
    for name, value in report.summary().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        if isinstance(value, dict):
            shown = "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        table.add_row(name.replace("_", " "), str(shown) if shown != "" else "none")
    out.print(table)
    for finding in report.findings[:FINDINGS_SHOWN]:
        out.print(f"[red]leak[/] {escape(str(finding))}", highlight=False)
    if len(report.findings) > FINDINGS_SHOWN:
        out.print(f"… and {len(report.findings) - FINDINGS_SHOWN} more (--json lists all)")
    for route in report.uncovered:
        out.print(f"[red]uncovered[/] {route}: served, and not in the probe's matrix")
    out.print("[green]no leak found[/]" if report.ok else "[red]leaks found[/]")
