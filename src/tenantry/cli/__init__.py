"""The `tenantry` command line. Each command parses, calls one service function, prints."""

from __future__ import annotations

from tenantry.cli import (
    access,
    accounts,
    audit,
    audit_archive,
    dynamo,
    identity,
    invite,
    outbox,
    probe,
    serve,
    worker,
)
from tenantry.cli.command import commands

app = commands("tenantry: multi-tenant access management.")
app.command()(serve.serve)
app.command()(serve.migrate)
app.command()(worker.worker)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.org_app, name="org")
app.add_typer(access.role_app, name="role")
app.add_typer(access.team_app, name="team")
app.add_typer(access.member_app, name="member")
app.add_typer(identity.identity_app, name="identity")
audit.audit_app.command("archive")(audit_archive.audit_archive)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(invite.invite_app, name="invite")
app.add_typer(dynamo.dynamo_app, name="dynamo")
app.command()(probe.probe)

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="tenantry")
