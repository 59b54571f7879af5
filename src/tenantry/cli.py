"""The `tenantry` command line. Each command parses, calls one service function, prints."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from tenantry.accounts import service as accounts
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.errors import TenantryError
from tenantry.domain.principal import SYSTEM
from tenantry.flows.registration import register_and_provision
from tenantry.keys.service import rotate_signing_keys
from tenantry.logging import configure_logging
from tenantry.runner import Runner
from tenantry.settings import WILDCARD_HOSTS, Settings, listening_url
from tenantry.store.sql.migrate import migrate as run_migrations
from tenantry.store.sql.store import UnsafeDatabase
from tenantry.unit_of_work import UnitOfWork


def _commands(description: str) -> typer.Typer:
    # Plain (click) help: typer's rich help labels every flag, --help included, `<bool>`.
    return typer.Typer(help=description, no_args_is_help=True, rich_markup_mode=None)


app = _commands("tenantry: multi-tenant access management.")
keys_app = _commands("Signing keys.")
user_app = _commands("Users.")
org_app = _commands("Organisations.")
app.add_typer(keys_app, name="keys")
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as refused:
        for problem in refused.errors():
            field = "_".join(str(part) for part in problem["loc"]).upper()
            name = f"TENANTRY_{field}" if field else "settings"
            err.print(f"[red]error[/] invalid_setting: {name}: {problem['msg']}")
        raise typer.Exit(code=2) from None
    configure_logging(as_json=settings.logs_as_json)
    return settings


def _listening(settings: Settings, host: str, port: int) -> Settings:
    """The settings of a server on `host`:`port`. Without TENANTRY_PUBLIC_URL, the issuer, the
    discovery document and email links name the listening address; a public URL that names
    this machine on another port is kept but reported (a stale value, or a missing proxy)."""
    log = structlog.get_logger()  # a fresh logger: it writes to the stdout of this command
    here = listening_url(host, port)
    if settings.public_url is None:
        if host in WILDCARD_HOSTS:
            log.warning(
                "public_url.not_set",
                listening=here,
                hint="listening on every interface: set TENANTRY_PUBLIC_URL to the URL clients "
                "use, or tokens and email links name loopback",
            )
        return settings.model_copy(update={"public_url": settings.resolved_public_url(host, port)})
    if _names_another_listener(settings.public_url, host, port):
        log.warning(
            "public_url.not_this_listener",
            public_url=settings.public_url,
            listening=here,
            hint="tokens, discovery and email links use TENANTRY_PUBLIC_URL; unset it to use "
            "the listening address",
        )
    return settings


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _names_another_listener(public_url: str, host: str, port: int) -> bool:
    """Whether `public_url` points at this machine but not at `host`:`port`. A URL on another
    name is taken to be a reverse proxy in front, which is how a deployment looks."""
    url = urlsplit(public_url)
    try:
        public_port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # not a port number at all
        return True
    here = _LOOPBACK if host in _LOOPBACK | WILDCARD_HOSTS else {host}
    if url.hostname in here:
        return public_port != port
    return url.hostname in _LOOPBACK


def _open(settings: Settings, *, prepare: bool = False) -> Tenantry:
    """A ready tenantry on a store that keeps tenants apart; `prepare` also makes the first
    signing keys, as a server needs. The embedded default migrates itself and is prepared, so
    that `tenantry serve` works on a fresh machine."""
    with _store_errors_reported():
        try:
            if settings.is_sqlite:
                run_migrations(settings.database_url)
            tenantry = bootstrap(settings)
            if prepare or settings.is_sqlite:
                prepare_to_serve(tenantry)
            else:
                tenantry.store.check_tenant_isolation()  # an operator is told before acting
            return tenantry
        except UnsafeDatabase as refusal:
            err.print(f"[red]error[/] unsafe_database: {refusal}")
            raise typer.Exit(code=1) from None
        except TenantryError as error:
            err.print(f"[red]error[/] {error.code}: {error.detail}")
            raise typer.Exit(code=1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP API and the email dispatcher."""
    import uvicorn

    from tenantry.http.app import create_app

    settings = _listening(_settings(), host, port)
    tenantry = _open(settings, prepare=True)
    out.print(f"tenantry on [bold]{settings.database_url}[/] - {listening_url(host, port)}/docs")
    uvicorn.run(
        create_app(tenantry, run_dispatcher=True),
        host=host,
        port=port,
        log_config=None,
        # No proxy is trusted unless named: uvicorn's own default believes 127.0.0.1.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False,
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (runs as TENANTRY_MIGRATION_DATABASE_URL if set)."""
    settings = _settings()
    with out.status("migrating"), _store_errors_reported():
        run_migrations(
            settings.migration_database_url or settings.database_url,
            runtime_url=settings.database_url,
        )
    out.print("[green]schema is up to date[/]")


@keys_app.command("init")
def keys_init() -> None:
    """Check tenant isolation and create the first signing keys (a deploy step; idempotent)."""
    _open(_settings(), prepare=True)
    out.print("[green]signing keys are ready[/]")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Promote the next signing key to current and create a new next key."""
    tenantry = _open(_settings())
    key = _run(
        tenantry,
        lambda uow: rotate_signing_keys(
            uow, now=tenantry.clock.now(), factory=tenantry.key_factory
        ),
    )
    out.print(f"current signing key is now [bold]{key.kid}[/] ({key.alg})")


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
    tenantry = _open(_settings())
    user = _run(
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
    tenantry = _open(_settings())
    owner = _run(tenantry, lambda uow: accounts.get_user_by_email_or_raise(uow, owner_email))
    with out.status("registering and provisioning"):
        org = _reported(
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


@contextmanager
def _store_errors_reported() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        err.print(f"[red]error[/] store_unavailable: {reason}")
        raise typer.Exit(code=1) from None


def _run(tenantry: Tenantry, use_case: Callable[[UnitOfWork], T]) -> T:
    return _reported(lambda: Runner(tenantry, principal=SYSTEM)(use_case))


def _reported(action: Callable[[], T]) -> T:
    """A refusal is printed with its code and ends the command with exit status 1."""
    try:
        return action()
    except TenantryError as error:
        err.print(f"[red]error[/] {error.code}: {error.detail}")
        raise typer.Exit(code=1) from None


def main() -> None:
    app(prog_name="tenantry")


if __name__ == "__main__":
    main()
