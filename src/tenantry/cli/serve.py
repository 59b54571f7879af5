"""Running tenantry and its deploy steps: `serve`, `migrate`, `keys init|rotate`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import structlog
import typer

from tenantry.cli.command import (
    commands,
    err,
    load_settings,
    open_tenantry,
    out,
    run,
    store_errors_reported,
)
from tenantry.domain.errors import TenantryError
from tenantry.keys.service import rotate_signing_keys
from tenantry.settings import WILDCARD_HOSTS, Settings, listening_url
from tenantry.store.sql.migrate import migrate as run_migrations

keys_app = commands("Signing keys.")

# `serve` and `migrate` are commands of the root app, which registers them (tenantry.cli).


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the HTTP API and the email dispatcher."""
    import uvicorn

    from tenantry.http.app import create_app

    settings = _listening(load_settings(), host, port)
    tenantry = open_tenantry(settings, prepare=True)
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


def migrate() -> None:
    """Bring the database schema up to date (runs as TENANTRY_MIGRATION_DATABASE_URL if set)."""
    settings = load_settings()
    if settings.is_dynamo:
        _dynamo_needs_no_migration(settings)
        return
    with out.status("migrating"), store_errors_reported():
        run_migrations(
            settings.migration_database_url or settings.database_url,
            runtime_url=settings.database_url,
        )
    out.print("[green]schema is up to date[/]")


def _dynamo_needs_no_migration(settings: Settings) -> None:
    """A DynamoDB table has no schema beyond its keys and indexes: there is nothing to
    migrate, once the table is there."""
    from tenantry.store.dynamo.store import open_dynamo_store

    with store_errors_reported():
        try:
            open_dynamo_store(settings.database_url).ping()
        except TenantryError as error:
            err.print(
                f"[red]error[/] {error.code}: the table is not there or cannot be reached "
                "(`tenantry dynamo create-table` makes it)"
            )
            raise typer.Exit(code=1) from None
    out.print("[green]the DynamoDB table is there; it has no schema to migrate[/]")


@keys_app.command("init")
def keys_init() -> None:
    """Check tenant isolation and create the first signing keys (a deploy step; idempotent)."""
    open_tenantry(load_settings(), prepare=True)
    out.print("[green]signing keys are ready[/]")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Promote the next signing key to current and create a new next key."""
    tenantry = open_tenantry(load_settings())
    key = run(
        tenantry,
        lambda uow: rotate_signing_keys(
            uow, now=tenantry.clock.now(), factory=tenantry.key_factory
        ),
    )
    out.print(f"current signing key is now [bold]{key.kid}[/] ({key.alg})")


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
