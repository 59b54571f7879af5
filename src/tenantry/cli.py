"""The `tenantry` command line. Each command parses, calls one service function, prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import structlog
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy.exc import DBAPIError

from tenantry.accounts import service as accounts
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.errors import NotFound, TenantryError
from tenantry.domain.model import Membership, Page
from tenantry.domain.paging import MAX_PAGE_SIZE
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole, RoleScope, TeamRole, is_custom_role_id
from tenantry.domain.teams import Team
from tenantry.flows.registration import register_and_provision
from tenantry.http.wire import Page as PageOut
from tenantry.keys.service import rotate_signing_keys
from tenantry.logging import configure_logging
from tenantry.members import service as members
from tenantry.organisations import service as orgs
from tenantry.organisations.schemas import MemberOut
from tenantry.roles import service as roles
from tenantry.roles.schemas import AssignmentOut, RoleList, RoleOut
from tenantry.runner import Runner
from tenantry.settings import WILDCARD_HOSTS, Settings, listening_url
from tenantry.store.sql.migrate import migrate as run_migrations
from tenantry.store.sql.store import UnsafeDatabase
from tenantry.teams import service as teams
from tenantry.teams.schemas import TeamMemberOut, TeamOut
from tenantry.unit_of_work import UnitOfWork


def _commands(description: str) -> typer.Typer:
    # Plain (click) help: typer's rich help labels every flag, --help included, `<bool>`.
    return typer.Typer(help=description, no_args_is_help=True, rich_markup_mode=None)


app = _commands("tenantry: multi-tenant access management.")
keys_app = _commands("Signing keys.")
user_app = _commands("Users.")
org_app = _commands("Organisations.")
role_app = _commands("An organisation's custom roles.")
team_app = _commands("An organisation's teams.")
member_app = _commands("An organisation's members.")
app.add_typer(keys_app, name="keys")
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(role_app, name="role")
app.add_typer(team_app, name="team")
app.add_typer(member_app, name="member")

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


# --- the access model: roles, teams, members (the operator acts as SYSTEM) -----------------

OrgRef = Annotated[
    str, typer.Option("--org", help="The organisation: its slug, or its id (org_…).")
]
UserRef = Annotated[str, typer.Option("--user", help="The user: an email, or an id (usr_…).")]
AsJson = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on standard output, nothing else."),
]


@role_app.command("list")
def role_list(org: OrgRef, as_json: AsJson = False) -> None:
    """The organisation's custom roles, by name."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        found = _run(tenantry, lambda uow: roles.list_roles(uow, tenantry.deps, SYSTEM, org_id))
    listing = RoleList(items=[RoleOut.of(role) for role in found])
    _show_list(
        listing,
        as_json=as_json,
        columns=("id", "name", "scope", "permissions", "description"),
        rows=[
            (r.id, r.name, r.scope, ", ".join(r.permissions), r.description) for r in listing.items
        ],
    )


@role_app.command("create")
def role_create(
    org: OrgRef,
    name: Annotated[str, typer.Option(help="Unique in the organisation, ignoring case.")],
    permission: Annotated[
        list[str],
        typer.Option(help="A permission or pattern (site:publish, site:*); repeat for more."),
    ],
    description: Annotated[str, typer.Option(help="What the role is for.")] = "",
    scope: Annotated[
        RoleScope, typer.Option(help="ORGANISATION: assigned to members; TEAM: a team role.")
    ] = RoleScope.ORGANISATION,
    as_json: AsJson = False,
) -> None:
    """Create a custom role."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        made = _run(
            tenantry,
            lambda uow: roles.create_role(
                uow,
                tenantry.deps,
                SYSTEM,
                org_id,
                name=name,
                permissions=permission,
                description=description,
                scope=scope,
            ),
        )
    role = made.value
    said = f"created role {role.id} ({role.name})"
    _show_change(RoleOut.of(role), made.epoch, as_json=as_json, said=said)


@role_app.command("assign")
def role_assign(
    org: OrgRef,
    user: UserRef,
    role: Annotated[str, typer.Option(help="The role: its id (rol_…) or its name.")],
    as_json: AsJson = False,
) -> None:
    """Assign a custom role to a member (assigning one they hold changes nothing)."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        role_id = _role_id(tenantry, org_id, role)
        done = _run(
            tenantry,
            lambda uow: roles.assign_role(
                uow, tenantry.deps, SYSTEM, org_id, orgs.resolve_user(uow, user).id, role_id
            ),
        )
    held = done.value
    said = f"{held.user_id} holds role {held.role_id} in {org_id}"
    _show_change(AssignmentOut.of(held), done.epoch, as_json=as_json, said=said)


@team_app.command("list")
def team_list(org: OrgRef, as_json: AsJson = False) -> None:
    """The organisation's teams, by creation time."""
    with _operator(as_json) as tenantry:
        found = _every_page(tenantry, "teams", _teams_of(tenantry, _org_id(tenantry, org)))
    listing = PageOut[TeamOut](items=[TeamOut.of(team) for team in found])
    _show_list(
        listing,
        as_json=as_json,
        columns=("id", "name", "members", "description"),
        rows=[(t.id, t.name, str(t.member_count), t.description) for t in listing.items],
    )


@team_app.command("create")
def team_create(
    org: OrgRef,
    name: Annotated[str, typer.Option(help="Unique in the organisation, ignoring case.")],
    description: Annotated[str, typer.Option(help="What the team is for.")] = "",
    as_json: AsJson = False,
) -> None:
    """Create a team (with no members)."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        made = _run(
            tenantry,
            lambda uow: teams.create_team(
                uow, tenantry.deps, SYSTEM, org_id, name=name, description=description
            ),
        )
    team = made.value
    said = f"created team {team.id} ({team.name})"
    _show_change(TeamOut.of(team), made.epoch, as_json=as_json, said=said)


@team_app.command("add-member")
def team_add_member(
    org: OrgRef,
    team: Annotated[str, typer.Option(help="The team: its id (team_…) or its name.")],
    user: UserRef,
    team_role: Annotated[
        str, typer.Option(help="LEAD, MEMBER, or the id of a TEAM-scoped role (rol_…).")
    ] = TeamRole.MEMBER.value,
    as_json: AsJson = False,
) -> None:
    """Add a member of the organisation to one of its teams."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        team_id = _team_id(tenantry, org_id, team)
        done = _run(
            tenantry,
            lambda uow: teams.add_team_member(
                uow,
                tenantry.deps,
                SYSTEM,
                org_id,
                team_id,
                user_id=orgs.resolve_user(uow, user).id,
                team_role=team_role,
            ),
        )
    joined = done.value
    said = f"{joined.user_id} joined team {team_id} as {joined.team_role}"
    _show_change(TeamMemberOut.of(joined), done.epoch, as_json=as_json, said=said)


@member_app.command("list")
def member_list(org: OrgRef, as_json: AsJson = False) -> None:
    """The organisation's active members, by join time."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)

        def page_of(uow: UnitOfWork, cursor: str | None) -> Page[Membership]:
            return orgs.list_members(
                uow, tenantry.deps, SYSTEM, org_id, limit=MAX_PAGE_SIZE, cursor=cursor
            )

        found = _every_page(tenantry, "members", page_of)
    listing = PageOut[MemberOut](items=[MemberOut.of(member) for member in found])
    _show_list(
        listing,
        as_json=as_json,
        columns=("user id", "email", "name", "role", "joined"),
        rows=[
            (m.user_id, m.email, m.name, m.org_role, m.joined_at.isoformat(timespec="seconds"))
            for m in listing.items
        ],
    )


@member_app.command("set-role")
def member_set_role(
    org: OrgRef,
    user: UserRef,
    role: Annotated[OrgRole, typer.Option(help="The member's new organisation role.")],
    as_json: AsJson = False,
) -> None:
    """Change a member's organisation role; the last OWNER stays an OWNER."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        done = _run(
            tenantry,
            lambda uow: members.change_org_role(
                uow, tenantry.deps, SYSTEM, org_id, orgs.resolve_user(uow, user).id, role
            ),
        )
    member = done.value
    said = f"{member.user_id} is {member.org_role} in {org_id}"
    _show_change(MemberOut.of(member), done.epoch, as_json=as_json, said=said)


@member_app.command("remove")
def member_remove(org: OrgRef, user: UserRef, as_json: AsJson = False) -> None:
    """End a membership, with its role assignments and team memberships; never the last
    OWNER's."""
    with _operator(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        done = _run(
            tenantry,
            lambda uow: members.remove_member(
                uow, tenantry.deps, SYSTEM, org_id, orgs.resolve_user(uow, user).id
            ),
        )
    ended = done.value
    said = f"removed {ended.user_id} from {org_id}"
    _show_change(MemberOut.of(ended), done.epoch, as_json=as_json, said=said)


@contextmanager
def _operator(as_json: bool) -> Iterator[Tenantry]:
    """The tenantry an access command works on, closed when the command is done."""
    settings = _settings()
    if as_json:  # standard output carries the one document: anything logged goes to stderr
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    tenantry = _open(settings)
    try:
        yield tenantry
    finally:
        tenantry.close()


def _org_id(tenantry: Tenantry, ref: str) -> str:
    return _run(tenantry, lambda uow: orgs.resolve_organisation(uow, ref).id)


def _role_id(tenantry: Tenantry, org_id: str, ref: str) -> str:
    """The role `ref` names: an id as given (the use case finds it or not), or a name."""
    if is_custom_role_id(ref):
        return ref
    found = _run(tenantry, lambda uow: roles.list_roles(uow, tenantry.deps, SYSTEM, org_id))
    return _reported(lambda: _named([(role.id, role.name) for role in found], ref, "role"))


def _team_id(tenantry: Tenantry, org_id: str, ref: str) -> str:
    """The team `ref` names: an id as given (the use case finds it or not), or a name."""
    if ref.startswith(f"{teams.TEAM}_"):
        return ref
    found = _every_page(tenantry, "teams", _teams_of(tenantry, org_id))
    return _reported(lambda: _named([(team.id, team.name) for team in found], ref, "team"))


def _named(candidates: list[tuple[str, str]], name: str, kind: str) -> str:
    # Names are unique ignoring case, as the store's `lower(name)` index keeps them.
    wanted = name.lower()
    for found_id, found_name in candidates:
        if found_name.lower() == wanted:
            return found_id
    raise NotFound(f"no {kind} of the organisation has this name", code=f"{kind}_not_found")


def _teams_of(tenantry: Tenantry, org_id: str) -> Callable[[UnitOfWork, str | None], Page[Team]]:
    def page_of(uow: UnitOfWork, cursor: str | None) -> Page[Team]:
        return teams.list_teams(
            uow, tenantry.deps, SYSTEM, org_id, limit=MAX_PAGE_SIZE, cursor=cursor
        )

    return page_of


def _every_page(
    tenantry: Tenantry, what: str, page_of: Callable[[UnitOfWork, str | None], Page[T]]
) -> list[T]:
    """Every item of a paged list, one use case a page as an HTTP client pages; a list longer
    than a page shows its progress on stderr."""
    page = _run(tenantry, lambda uow: page_of(uow, None))
    items = list(page.items)
    if page.next_cursor is None:
        return items
    with err.status(f"reading {what}") as status:
        while (cursor := page.next_cursor) is not None:
            status.update(f"reading {what}: {len(items)} so far")
            page = _run(tenantry, lambda uow: page_of(uow, cursor))
            items.extend(page.items)
    return items


def _show_change(shape: BaseModel, epoch: int, *, as_json: bool, said: str) -> None:
    """A change: its HTTP wire shape plus `authz_epoch` (what HTTP sends as the
    `Tenantry-Authz-Epoch` header), or one line."""
    if as_json:
        _print_json({**shape.model_dump(mode="json"), "authz_epoch": epoch})
    else:
        out.print(f"{escape(said)}; authz epoch [bold]{epoch}[/]", soft_wrap=True)


def _show_list(
    listing: BaseModel,
    *,
    as_json: bool,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> None:
    if as_json:
        _print_json(listing.model_dump(mode="json"))
        return
    table = Table(*(Column(name, overflow="fold") for name in columns))  # ids never cut short
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


def _print_json(document: object) -> None:
    # Not through Rich, which would wrap long lines and read brackets as markup.
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


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
    with _store_errors_reported():
        return _reported(lambda: Runner(tenantry, principal=SYSTEM)(use_case))


def _reported(action: Callable[[], T]) -> T:
    """A refusal is printed with its code and ends the command with exit status 1."""
    try:
        return action()
    except TenantryError as error:
        # The detail may quote input (a refused permission), which is no markup.
        err.print(f"[red]error[/] {error.code}: {escape(error.detail)}", soft_wrap=True)
        raise typer.Exit(code=1) from None


def main() -> None:
    app(prog_name="tenantry")


if __name__ == "__main__":
    main()
