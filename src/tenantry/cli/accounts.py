"""The operator's accounts and organisations: `user create`, `org create`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tenantry.accounts import service as accounts
from tenantry.cli.command import commands, load_settings, open_tenantry, out, reported, run
from tenantry.domain.principal import SYSTEM
from tenantry.flows.registration import register_and_provision
from tenantry.runner import Runner

user_app = commands("Users.")
org_app = commands("Organisations.")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Email address.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    password: Annotated[
        str | None,
        typer.Option(
            help="The password. Other local users can read it in the process list: prefer the "
            "prompt or --password-stdin."
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    verified: Annotated[
        bool, typer.Option("--verified", help="Mark the email as verified.")
    ] = False,
) -> None:
    """Create a user (an operator action, audited as SYSTEM). In a terminal the password is
    prompted for; in a script, pipe it in with --password-stdin."""
    password = _password(password, from_stdin=password_stdin)
    tenantry = open_tenantry(load_settings())
    user = run(
        tenantry,
        lambda uow: accounts.create_user(
            uow, tenantry.deps, SYSTEM, email=email, password=password, name=name, verified=verified
        ),
    )
    out.print(f"created user [bold]{user.id}[/] <{user.email}>")


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Organisation name.")],
    slug: Annotated[str, typer.Option(help="URL slug: a-z, 0-9 and '-', 3-63 characters.")],
    owner_email: Annotated[str, typer.Option(help="Email of the existing user who will be OWNER.")],
) -> None:
    """Register an organisation for an existing user and provision it."""
    tenantry = open_tenantry(load_settings())
    owner = run(tenantry, lambda uow: accounts.get_user_by_email_or_raise(uow, owner_email))
    with out.status("registering and provisioning"):
        org = reported(
            lambda: register_and_provision(
                Runner(tenantry, principal=SYSTEM),
                tenantry.jobs,
                name=name,
                slug=slug,
                owner_id=owner.id,
            )
        )
    out.print(f"organisation [bold]{org.id}[/] ({org.slug}) is {org.status}")


def _password(given: str | None, *, from_stdin: bool) -> str:
    if given is not None and from_stdin:
        raise typer.BadParameter("give it or --password-stdin, not both", param_hint="--password")
    if given is not None:
        return given
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter(
                "standard input held no password", param_hint="--password-stdin"
            )
        return line
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            "none given, and no terminal to prompt for it: pipe it in with --password-stdin",
            param_hint="--password",
        )
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password
