"""What every command shares: its settings, the tenantry it opens, how it runs a use case as
the operator (`SYSTEM`), how a refusal or a store failure ends it, and where it prints."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy.exc import DBAPIError

from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.errors import TenantryError
from tenantry.domain.principal import SYSTEM
from tenantry.logging import configure_logging, log_to_stderr
from tenantry.runner import Runner
from tenantry.settings import Settings
from tenantry.store.sql.migrate import migrate as run_migrations
from tenantry.store.sql.store import UnsafeDatabase
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def commands(description: str) -> typer.Typer:
    # Plain (click) help: typer's rich help labels every flag, --help included, `<bool>`.
    return typer.Typer(help=description, no_args_is_help=True, rich_markup_mode=None)


def load_settings() -> Settings:
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


def open_tenantry(settings: Settings, *, prepare: bool = False) -> Tenantry:
    """A ready tenantry on a store that keeps tenants apart; `prepare` also makes the first
    signing keys, as a server needs. The embedded default migrates itself and is prepared, so
    that `tenantry serve` works on a fresh machine."""
    with store_errors_reported():
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


@contextmanager
def store_errors_reported() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        err.print(f"[red]error[/] store_unavailable: {reason}")
        raise typer.Exit(code=1) from None


def run(tenantry: Tenantry, use_case: Callable[[UnitOfWork], T]) -> T:
    with store_errors_reported():
        return reported(lambda: Runner(tenantry, principal=SYSTEM)(use_case))


def reported(action: Callable[[], T]) -> T:
    """A refusal is printed with its code and ends the command with exit status 1."""
    try:
        return action()
    except TenantryError as error:
        # The detail may quote input (a refused permission), which is no markup.
        err.print(f"[red]error[/] {error.code}: {escape(error.detail)}", soft_wrap=True)
        raise typer.Exit(code=1) from None


def print_json(document: object) -> None:
    # Not through Rich, which would wrap long lines and read brackets as markup.
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@contextmanager
def operator_tenantry(as_json: bool) -> Iterator[Tenantry]:
    """The tenantry an operator command works on, closed when the command is done."""
    settings = load_settings()
    if as_json:  # standard output carries the one document: anything logged goes to stderr
        log_to_stderr()
    tenantry = open_tenantry(settings)
    try:
        yield tenantry
    finally:
        tenantry.close()


def show_list(
    listing: BaseModel,
    *,
    as_json: bool,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> None:
    """A list as JSON (`--json`) or as a table whose ids are never cut short."""
    if as_json:
        print_json(listing.model_dump(mode="json"))
        return
    table = Table(*(Column(name, overflow="fold") for name in columns))  # ids never cut short
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


@contextmanager
def stopped_by_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `stop` once; a second one acts as it would have otherwise."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in signals}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handle(_number: int, _frame: FrameType | None) -> None:
        restore()
        stop()

    for number in signals:
        signal.signal(number, handle)
    try:
        yield
    finally:
        restore()
