"""`tenantry invite` and `tenantry invite bulk FILE.csv`: the operator invites addresses into
an organisation, as `POST …/invitations` and `…/invitations/bulk` do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from tenantry.bootstrap import Tenantry
from tenantry.cli.access import AsJson, OrgRef
from tenantry.cli.command import commands, err, operator_tenantry, out, print_json, run
from tenantry.domain.errors import Invalid
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole
from tenantry.invitations import bulk
from tenantry.invitations import service as invitations
from tenantry.invitations.bulk import BulkOutcome, BulkRow, RowStatus
from tenantry.invitations.csv_rows import rows_from_csv_bytes
from tenantry.invitations.schemas import BulkOut, InvitationOut
from tenantry.invitations.service import Binding
from tenantry.organisations import service as orgs

invite_app = commands("Invite email addresses into an organisation.")


@invite_app.callback(invoke_without_command=True)
def invite(
    context: typer.Context,
    org: Annotated[str | None, typer.Option("--org", help="The organisation: slug or id.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="The address to invite.")] = None,
    org_role: Annotated[OrgRole, typer.Option("--role", help="The organisation role.")] = (
        OrgRole.MEMBER
    ),
    role_ids: Annotated[
        list[str] | None, typer.Option("--custom-role", help="A custom role (rol_…); repeatable.")
    ] = None,
    team_id: Annotated[str | None, typer.Option("--team", help="A team to join (team_…).")] = None,
    team_role: Annotated[str | None, typer.Option("--team-role", help="LEAD, MEMBER or rol_…")] = (
        None
    ),
    as_json: AsJson = False,
) -> None:
    """`tenantry invite --org ORG --email ADDRESS [...]`: one invitation, its link emailed."""
    if context.invoked_subcommand is not None:
        return
    if org is None or email is None:
        err.print("[red]error[/] usage: tenantry invite --org ORG --email ADDRESS, or invite bulk")
        raise typer.Exit(code=2)
    binding = Binding(org_role, tuple(role_ids or ()), team_id, team_role)
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        made = run(
            tenantry,
            lambda uow: invitations.create_invitation(
                uow, tenantry.deps, SYSTEM, org_id, email=email, binding=binding
            ),
        )
        shown = InvitationOut.of(made.value, tenantry.clock.now())
    if as_json:
        print_json({**shown.model_dump(mode="json"), "authz_epoch": made.epoch})
        return
    out.print(f"invited {shown.email} to {org_id} as {shown.org_role.value}: {shown.id}")


@invite_app.command("bulk")
def invite_bulk(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A CSV file.")
    ],
    org: OrgRef,
    all_or_nothing: Annotated[
        bool, typer.Option("--all-or-nothing", help="Write nothing if any row fails.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only check the rows.")] = False,
    as_json: AsJson = False,
) -> None:
    """Invite every row of FILE.csv: a header `email,org_role,role_ids,team_id,team_role`
    (only `email` is required; `role_ids` separated by spaces). Rows go in requests of
    TENANTRY_INVITATION_BULK_MAX; with --all-or-nothing the file must fit in one."""
    rows = _read_csv(file)
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        size = tenantry.deps.policy.invitation_bulk_max
        if all_or_nothing and len(rows) > size:
            err.print(
                f"[red]error[/] too_many_rows: --all-or-nothing takes at most {size} rows "
                f"(TENANTRY_INVITATION_BULK_MAX); the file has {len(rows)}"
            )
            raise typer.Exit(code=1)
        outcomes = _in_chunks(tenantry, org_id, rows, size, all_or_nothing, dry_run)
        shown = [BulkOut.of(o, tenantry.clock.now()) for o in outcomes]
    results = [row for part in shown for row in part.rows]
    if as_json:
        written = any(part.written for part in shown)
        print_json({"written": written, "rows": [r.model_dump(mode="json") for r in results]})
    else:
        for result in results:
            if result.status is not RowStatus.CREATED:
                err.print(f"row {result.row + 2}: {result.email}: {result.status} {result.code}")
        created = sum(1 for r in results if r.status is RowStatus.CREATED)
        verb = "would invite" if dry_run else "invited"
        out.print(f"{verb} {created} of {len(results)} addresses")
    if any(r.status is not RowStatus.CREATED for r in results):
        raise typer.Exit(code=1)


def _in_chunks(
    tenantry: Tenantry,
    org_id: str,
    rows: list[BulkRow],
    size: int,
    all_or_nothing: bool,
    dry_run: bool,
) -> list[BulkOutcome]:
    outcomes = []
    # Only on a terminal: a log or a pipe gets the summary alone.
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("invitations", total=len(rows))
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            outcome = run(
                tenantry,
                lambda uow: bulk.bulk_invite(
                    uow,
                    tenantry.deps,
                    SYSTEM,
                    org_id,
                    rows=chunk,  # noqa: B023
                    all_or_nothing=all_or_nothing,
                    dry_run=dry_run,
                ),
            )
            outcomes.append(_numbered_from(outcome, start))
            progress.advance(task, len(chunk))
    return outcomes


def _numbered_from(outcome: BulkOutcome, start: int) -> BulkOutcome:
    """Row numbers of the whole file, not of the request a row went in."""
    rows = [replace(row, row=row.row + start) for row in outcome.rows]
    return replace(outcome, rows=rows)


def _read_csv(file: Path) -> list[BulkRow]:
    try:
        return rows_from_csv_bytes(file.read_bytes())
    except Invalid as error:
        err.print(f"[red]error[/] {error.code}: {error.detail}")
        raise typer.Exit(code=2) from None


def _org_id(tenantry: Tenantry, ref: str) -> str:
    return run(tenantry, lambda uow: orgs.resolve_organisation(uow, ref).id)
