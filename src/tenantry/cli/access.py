"""The access model, as the operator (`SYSTEM`) manages it: `role`, `team` and `member`
commands. Each prints the HTTP wire shape with `--json`, else a table or one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.markup import escape

from tenantry.accounts import service as accounts
from tenantry.bootstrap import Tenantry
from tenantry.cli.command import (
    commands,
    err,
    operator_tenantry,
    out,
    print_json,
    run,
    show_list,
)
from tenantry.domain.model import Membership, Page
from tenantry.domain.paging import MAX_PAGE_SIZE
from tenantry.domain.principal import SYSTEM
from tenantry.domain.roles import OrgRole, RoleScope, TeamRole
from tenantry.domain.teams import Team
from tenantry.http.wire import Page as PageOut
from tenantry.members import service as members
from tenantry.organisations import service as orgs
from tenantry.organisations.schemas import MemberOut
from tenantry.roles import service as roles
from tenantry.roles.schemas import AssignmentOut, RoleList, RoleOut
from tenantry.teams import members as team_members
from tenantry.teams import service as teams
from tenantry.teams.schemas import TeamMemberOut, TeamOut
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")
role_app = commands("An organisation's custom roles.")
team_app = commands("An organisation's teams.")
member_app = commands("An organisation's members.")

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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        found = run(tenantry, lambda uow: roles.list_roles(uow, tenantry.deps, SYSTEM, org_id))
    listing = RoleList(items=[RoleOut.of(role) for role in found])
    show_list(
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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        made = run(
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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        role_id = run(
            tenantry, lambda uow: roles.find_role(uow, tenantry.deps, SYSTEM, org_id, role).id
        )
        done = run(
            tenantry,
            lambda uow: roles.assign_role(
                uow, tenantry.deps, SYSTEM, org_id, accounts.resolve_user(uow, user).id, role_id
            ),
        )
    held = done.value
    said = f"{held.user_id} holds role {held.role_id} in {org_id}"
    _show_change(AssignmentOut.of(held), done.epoch, as_json=as_json, said=said)


@team_app.command("list")
def team_list(org: OrgRef, as_json: AsJson = False) -> None:
    """The organisation's teams, by creation time."""
    with operator_tenantry(as_json) as tenantry:
        found = _every_page(tenantry, "teams", _teams_of(tenantry, _org_id(tenantry, org)))
    listing = PageOut[TeamOut](items=[TeamOut.of(team) for team in found])
    show_list(
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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        made = run(
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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        team_id = run(
            tenantry, lambda uow: teams.find_team(uow, tenantry.deps, SYSTEM, org_id, team).id
        )
        done = run(
            tenantry,
            lambda uow: team_members.add_team_member(
                uow,
                tenantry.deps,
                SYSTEM,
                org_id,
                team_id,
                user_id=accounts.resolve_user(uow, user).id,
                team_role=team_role,
            ),
        )
    joined = done.value
    said = f"{joined.user_id} joined team {team_id} as {joined.team_role}"
    _show_change(TeamMemberOut.of(joined), done.epoch, as_json=as_json, said=said)


@member_app.command("list")
def member_list(org: OrgRef, as_json: AsJson = False) -> None:
    """The organisation's active members, by join time."""
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)

        def page_of(uow: UnitOfWork, cursor: str | None) -> Page[Membership]:
            return orgs.list_members(
                uow, tenantry.deps, SYSTEM, org_id, limit=MAX_PAGE_SIZE, cursor=cursor
            )

        found = _every_page(tenantry, "members", page_of)
    listing = PageOut[MemberOut](items=[MemberOut.of(member) for member in found])
    show_list(
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
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        done = run(
            tenantry,
            lambda uow: members.change_org_role(
                uow, tenantry.deps, SYSTEM, org_id, accounts.resolve_user(uow, user).id, role
            ),
        )
    member = done.value
    said = f"{member.user_id} is {member.org_role} in {org_id}"
    _show_change(MemberOut.of(member), done.epoch, as_json=as_json, said=said)


@member_app.command("remove")
def member_remove(org: OrgRef, user: UserRef, as_json: AsJson = False) -> None:
    """End a membership, with its role assignments and team memberships; never the last
    OWNER's."""
    with operator_tenantry(as_json) as tenantry:
        org_id = _org_id(tenantry, org)
        done = run(
            tenantry,
            lambda uow: members.remove_member(
                uow, tenantry.deps, SYSTEM, org_id, accounts.resolve_user(uow, user).id
            ),
        )
    ended = done.value
    said = f"removed {ended.user_id} from {org_id}"
    _show_change(MemberOut.of(ended), done.epoch, as_json=as_json, said=said)


def _org_id(tenantry: Tenantry, ref: str) -> str:
    return run(tenantry, lambda uow: orgs.resolve_organisation(uow, ref).id)


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
    page = run(tenantry, lambda uow: page_of(uow, None))
    items = list(page.items)
    if page.next_cursor is None:
        return items
    with err.status(f"reading {what}") as status:
        while (cursor := page.next_cursor) is not None:
            status.update(f"reading {what}: {len(items)} so far")
            page = run(tenantry, lambda uow: page_of(uow, cursor))
            items.extend(page.items)
    return items


def _show_change(shape: BaseModel, epoch: int, *, as_json: bool, said: str) -> None:
    """A change: its HTTP wire shape plus `authz_epoch` (what HTTP sends as the
    `Tenantry-Authz-Epoch` header), or one line."""
    if as_json:
        print_json({**shape.model_dump(mode="json"), "authz_epoch": epoch})
    else:
        out.print(f"{escape(said)}; authz epoch [bold]{epoch}[/]", soft_wrap=True)
