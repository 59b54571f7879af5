"""TeamsRepository and TeamMembershipsRepository: reads, names unique per organisation
ignoring case, pages and their cursors, the member count as an increment, and all-or-none
commits. (Their refused writes are in `refusals.py`.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tenantry.domain.errors import Invalid
from tenantry.domain.ids import new_id
from tenantry.domain.model import Organisation, Page
from tenantry.domain.roles import RoleScope, TeamRole
from tenantry.domain.teams import Team, TeamMembership
from tenantry.store.open import Store
from tenantry.unit_of_work import UnitOfWork
from tests.contract.builders import AT, make_team, make_team_member, make_user, minutes
from tests.contract.steps import (
    adding,
    committed,
    committed_in_batches,
    given_member,
    given_org,
    given_role,
    given_team,
    given_team_member,
    present,
    read,
    refused,
)


def _team(store: Store, team: Team) -> Team | None:
    return read(store, lambda uow: uow.teams.get(team.org_id, team.id), org_id=team.org_id)


def _teams_page(
    store: Store, org: Organisation, cursor: str | None = None, *, limit: int = 2
) -> Page[Team]:
    return read(
        store, lambda uow: uow.teams.list(org.id, limit=limit, cursor=cursor), org_id=org.id
    )


def _count(store: Store, org: Organisation) -> int:
    return read(store, lambda uow: uow.teams.count(org.id), org_id=org.id)


def test_a_team_reads_back_as_it_was_added(store: Store) -> None:
    team = given_team(store, given_org(store), description="", member_count=0)
    assert _team(store, team) == team


def test_an_unknown_team_and_another_organisations_team_are_none(store: Store) -> None:
    theirs = given_team(store, given_org(store))
    org = given_org(store)
    assert read(store, lambda uow: uow.teams.get(org.id, new_id("team")), org_id=org.id) is None
    assert read(store, lambda uow: uow.teams.get(org.id, theirs.id), org_id=org.id) is None


def test_get_many_returns_the_organisations_teams_that_exist(store: Store) -> None:
    org = given_org(store)
    first, second = given_team(store, org), given_team(store, org)
    theirs = given_team(store, given_org(store))
    wanted = [second.id, new_id("team"), theirs.id, first.id]
    found = read(store, lambda uow: uow.teams.get_many(org.id, wanted), org_id=org.id)
    assert sorted(found, key=lambda team: team.id) == sorted([first, second], key=lambda t: t.id)
    assert read(store, lambda uow: uow.teams.get_many(org.id, []), org_id=org.id) == []


def _teams(store: Store, org: Organisation, created_minutes: list[int]) -> list[Team]:
    """Teams of `org` created that many minutes after AT, in list order."""
    teams = [make_team(org, created_at=AT + minutes(offset)) for offset in created_minutes]

    def add(uow: UnitOfWork) -> None:
        for team in teams:
            uow.teams.add(team)

    committed(store, add, org_id=org.id)
    return sorted(teams, key=lambda team: (team.created_at, team.id))


def test_teams_are_paged_by_creation_time_then_id_until_the_cursor_is_none(
    store: Store,
) -> None:
    org = given_org(store)
    teams = _teams(store, org, [3, 0, 0, 1, 2])
    given_team(store, given_org(store), created_at=AT)  # another organisation's
    first = _teams_page(store, org)
    second = _teams_page(store, org, first.next_cursor)
    third = _teams_page(store, org, second.next_cursor)
    assert [first.items, second.items, third.items] == [teams[0:2], teams[2:4], teams[4:]]
    assert [page.next_cursor is None for page in (first, second, third)] == [False, False, True]
    assert _teams_page(store, org, limit=5) == Page(teams, None)  # a full last page
    assert _count(store, org) == 5


def test_an_organisation_without_teams_has_one_empty_page_and_counts_none(store: Store) -> None:
    org = given_org(store)
    assert _teams_page(store, org) == Page([], None)
    assert _count(store, org) == 0


def _members_page(
    store: Store, team: Team, cursor: str | None = None, *, limit: int = 2
) -> Page[TeamMembership]:
    return read(
        store,
        lambda uow: uow.team_memberships.list_for_team(
            team.org_id, team.id, limit=limit, cursor=cursor
        ),
        org_id=team.org_id,
    )


def _members(store: Store, team: Team, joined_minutes: list[int]) -> list[TeamMembership]:
    """Members of `team`, joined that many minutes after AT, in member-list order."""
    members = [make_team_member(team, joined_at=AT + minutes(m)) for m in joined_minutes]

    def add(uow: UnitOfWork) -> None:
        for member in members:
            uow.team_memberships.add(member)

    committed(store, add, org_id=team.org_id)
    return sorted(members, key=lambda member: (member.joined_at, member.user_id))


def _invalid_cursor(list_page: Callable[[], object]) -> str:
    with pytest.raises(Invalid) as raised:
        list_page()
    return raised.value.code


def test_a_teams_cursor_is_refused_by_another_organisations_teams(store: Store) -> None:
    org, other = given_org(store), given_org(store)
    _teams(store, org, [0, 1, 2])
    _teams(store, other, [0, 1, 2])
    cursor = present(_teams_page(store, org).next_cursor)
    assert _invalid_cursor(lambda: _teams_page(store, other, cursor)) == "invalid_cursor"


def test_a_team_member_list_cursor_is_refused_by_another_team_and_by_the_team_list(
    store: Store,
) -> None:
    org = given_org(store)
    team, other = given_team(store, org), given_team(store, org)
    _members(store, team, [0, 1, 2])
    cursor = present(_members_page(store, team).next_cursor)
    assert _invalid_cursor(lambda: _members_page(store, other, cursor)) == "invalid_cursor"
    assert _invalid_cursor(lambda: _teams_page(store, org, cursor)) == "invalid_cursor"


def test_the_lists_refuse_the_cursors_of_the_organisation_member_list(store: Store) -> None:
    org = given_org(store)
    for _ in range(3):
        given_member(store, org)
    member_list = read(
        store, lambda uow: uow.memberships.list_members(org.id, limit=2, cursor=None), org_id=org.id
    )
    cursor = present(member_list.next_cursor)
    team = given_team(store, org)
    assert _invalid_cursor(lambda: _teams_page(store, org, cursor)) == "invalid_cursor"
    assert _invalid_cursor(lambda: _members_page(store, team, cursor)) == "invalid_cursor"


def test_a_teams_list_cursor_is_refused_by_its_member_list(store: Store) -> None:
    org = given_org(store)
    teams = _teams(store, org, [0, 1, 2])
    cursor = present(_teams_page(store, org).next_cursor)
    assert _invalid_cursor(lambda: _members_page(store, teams[0], cursor)) == "invalid_cursor"


def test_two_organisations_may_each_have_a_team_of_the_same_name(store: Store) -> None:
    ours = given_team(store, given_org(store), name="Platform")
    theirs = given_team(store, given_org(store), name="PLATFORM")
    assert [_team(store, ours), _team(store, theirs)] == [ours, theirs]


def test_an_update_writes_name_and_description_never_the_member_count(store: Store) -> None:
    team = given_team(store, given_org(store))
    committed(
        store,
        lambda uow: uow.teams.add_to_member_count(team.org_id, team.id, 2),
        org_id=team.org_id,
    )
    changed = replace(team, name="Infrastructure", description="Keeps the lights on")
    committed(
        store,
        lambda uow: uow.teams.update(replace(changed, member_count=99, created_at=AT + minutes(1))),
        org_id=team.org_id,
    )
    assert _team(store, team) == replace(changed, member_count=2)


def test_a_team_may_be_renamed_to_its_own_name_in_another_case(store: Store) -> None:
    team = given_team(store, given_org(store), name="design")
    committed(store, lambda uow: uow.teams.update(replace(team, name="Design")), org_id=team.org_id)
    assert _team(store, team) == replace(team, name="Design")


def test_a_deleted_team_is_gone_and_its_name_is_free(store: Store) -> None:
    org = given_org(store)
    team = given_team(store, org, name="Mobile")
    committed(store, lambda uow: uow.teams.delete(org.id, team.id), org_id=org.id)
    assert _team(store, team) is None
    assert _count(store, org) == 0
    given_team(store, org, name="mobile")


# --- the member count ------------------------------------------------------------------------


def test_member_counts_added_after_reading_the_same_team_all_count(store: Store) -> None:
    team = given_team(store, given_org(store))
    with (
        store.unit_of_work(org_id=team.org_id) as first,
        store.unit_of_work(org_id=team.org_id) as second,
    ):
        assert present(first.teams.get(team.org_id, team.id)).member_count == 0
        assert present(second.teams.get(team.org_id, team.id)).member_count == 0
        first.teams.add_to_member_count(team.org_id, team.id, 1)
        first.commit()
        second.teams.add_to_member_count(team.org_id, team.id, 1)
        second.commit()
    assert present(_team(store, team)).member_count == 2


def test_member_count_changes_in_one_unit_of_work_add_up(store: Store) -> None:
    team = given_team(store, given_org(store))

    def join_three_then_leave_one(uow: UnitOfWork) -> None:
        for delta in (1, 1, 1, -1):
            uow.teams.add_to_member_count(team.org_id, team.id, delta)

    committed(store, join_three_then_leave_one, org_id=team.org_id)
    assert present(_team(store, team)).member_count == 2


def test_a_team_its_first_member_and_its_count_commit_all_or_none(store: Store) -> None:
    org = given_org(store)
    taken = given_team(store, org)
    team = make_team(org)
    member = make_team_member(team, team_role=TeamRole.LEAD.value)

    def create_with_lead(uow: UnitOfWork) -> None:
        uow.teams.add(team)
        uow.team_memberships.add(member)
        uow.teams.add_to_member_count(org.id, team.id, 1)

    error = refused(
        store,
        create_with_lead,
        lambda uow: uow.teams.add(make_team(org, name=taken.name)),
        org_id=org.id,
    )
    assert error.code == "team_name_taken"
    assert _team(store, team) is None
    assert _members_page(store, team) == Page([], None)
    committed(store, create_with_lead, org_id=org.id)
    assert present(_team(store, team)).member_count == 1
    assert _members_page(store, team) == Page([member], None)


# --- team memberships ------------------------------------------------------------------------


def test_a_team_membership_reads_back_as_it_was_added(store: Store) -> None:
    team = given_team(store, given_org(store))
    member = given_team_member(store, team, make_user(), team_role=TeamRole.LEAD.value)
    got = read(
        store,
        lambda uow: uow.team_memberships.get(team.org_id, team.id, member.user_id),
        org_id=team.org_id,
    )
    assert got == member


def test_a_non_member_of_the_team_is_none(store: Store) -> None:
    org = given_org(store)
    team, other = given_team(store, org), given_team(store, org)
    member = given_team_member(store, other)
    got = read(
        store, lambda uow: uow.team_memberships.get(org.id, team.id, member.user_id), org_id=org.id
    )
    assert got is None


def test_a_teams_members_are_paged_by_join_time_then_user(store: Store) -> None:
    org = given_org(store)
    team = given_team(store, org)
    members = _members(store, team, [3, 0, 0, 1, 2])
    given_team_member(store, given_team(store, org), joined_at=AT)  # another team's
    first = _members_page(store, team)
    second = _members_page(store, team, first.next_cursor)
    third = _members_page(store, team, second.next_cursor)
    assert [first.items, second.items, third.items] == [members[0:2], members[2:4], members[4:]]
    assert third.next_cursor is None
    assert _members_page(store, team, limit=5) == Page(members, None)


def test_all_of_a_teams_members_are_listed_by_join_time_then_user(store: Store) -> None:
    org = given_org(store)
    team = given_team(store, org)
    members = _members(store, team, [2, 0, 1, 1])
    given_team_member(store, given_team(store, org))
    listed = read(
        store, lambda uow: uow.team_memberships.all_for_team(org.id, team.id), org_id=org.id
    )
    assert listed == members


def test_a_users_teams_are_listed_by_team_id_in_that_organisation_only(store: Store) -> None:
    org, user = given_org(store), make_user()
    teams = [given_team(store, org) for _ in range(3)]
    mine = sorted(
        (
            given_team_member(store, team, user, joined_at=AT + minutes(i))
            for i, team in enumerate(teams)
        ),
        key=lambda membership: membership.team_id,
    )
    given_team_member(store, teams[0])  # someone else
    given_team_member(store, given_team(store, given_org(store)), user)  # another organisation
    listed = read(
        store, lambda uow: uow.team_memberships.list_for_user(org.id, user.id), org_id=org.id
    )
    assert listed == mine


def test_the_holders_of_a_team_role_are_listed_by_team_then_user(store: Store) -> None:
    org = given_org(store)
    custom_role = given_role(store, org, scope=RoleScope.TEAM).id
    teams = sorted((given_team(store, org) for _ in range(2)), key=lambda team: team.id)
    leads = [
        given_team_member(store, team, team_role=custom_role, joined_at=AT + minutes(9 - i))
        for team in teams
        for i in range(2)
    ]
    given_team_member(store, teams[0], team_role=TeamRole.LEAD.value)
    given_team_member(store, given_team(store, given_org(store)), team_role=custom_role)
    listed = read(
        store,
        lambda uow: uow.team_memberships.list_with_role(org.id, custom_role),
        org_id=org.id,
    )
    assert listed == sorted(leads, key=lambda m: (m.team_id, m.user_id))


def test_a_members_team_role_is_set(store: Store) -> None:
    team = given_team(store, given_org(store))
    member = given_team_member(store, team)
    committed(
        store,
        lambda uow: uow.team_memberships.set_role(
            team.org_id, team.id, member.user_id, TeamRole.LEAD.value
        ),
        org_id=team.org_id,
    )
    assert _members_page(store, team).items == [replace(member, team_role=TeamRole.LEAD.value)]


def test_a_removed_member_leaves_that_team_only(store: Store) -> None:
    org, user = given_org(store), make_user()
    team, other = given_team(store, org), given_team(store, org)
    given_team_member(store, team, user)
    stays = given_team_member(store, other, user)
    committed(
        store, lambda uow: uow.team_memberships.remove(org.id, team.id, user.id), org_id=org.id
    )
    assert _members_page(store, team) == Page([], None)
    assert read(
        store, lambda uow: uow.team_memberships.list_for_user(org.id, user.id), org_id=org.id
    ) == [stays]


def _members_in_batches(store: Store, team: Team, count: int, **changes: Any) -> None:
    made = [make_team_member(team, **changes) for _ in range(count)]
    committed_in_batches(store, [adding(m) for m in made], org_id=team.org_id)


def test_a_deleted_teams_memberships_end_with_it_however_many_there_are(store: Store) -> None:
    org, user = given_org(store), make_user()
    role = given_role(store, org, scope=RoleScope.TEAM).id
    team, other = given_team(store, org), given_team(store, org)
    _members_in_batches(store, team, 150, team_role=role)  # more than a DynamoDB transaction
    given_team_member(store, team, user, team_role=role)
    stays = given_team_member(store, other, user, team_role=role)

    committed(
        store,
        lambda uow: uow.team_memberships.end_all_for_team(org.id, team.id),
        lambda uow: uow.teams.delete(org.id, team.id),
        org_id=org.id,
    )

    def remaining(uow: UnitOfWork) -> tuple[object, ...]:
        return (
            uow.team_memberships.all_for_team(org.id, team.id),
            uow.team_memberships.list_for_user(org.id, user.id),
            uow.team_memberships.list_with_role(org.id, role),
        )

    assert read(store, remaining, org_id=org.id) == ([], [stays], [stays])


def test_the_memberships_of_a_team_stay_when_its_deletion_is_refused(store: Store) -> None:
    org = given_org(store)
    team = given_team(store, org)
    members = [given_team_member(store, team, joined_at=AT + minutes(i)) for i in range(2)]

    error = refused(
        store,
        lambda uow: uow.team_memberships.end_all_for_team(org.id, team.id),
        lambda uow: uow.teams.delete(org.id, new_id("team")),  # not there
        org_id=org.id,
    )

    assert error.code == "team_changed"
    listed = read(
        store, lambda uow: uow.team_memberships.all_for_team(org.id, team.id), org_id=org.id
    )
    assert listed == members


def test_a_deleted_custom_team_role_leaves_every_holder_a_member(store: Store) -> None:
    org, user = given_org(store), make_user()
    role = given_role(store, org, scope=RoleScope.TEAM).id
    team, other = given_team(store, org), given_team(store, org)
    _members_in_batches(store, team, 150, team_role=role)  # more than a DynamoDB transaction
    held = given_team_member(store, other, user, team_role=role)
    lead = given_team_member(store, other, team_role=TeamRole.LEAD.value, joined_at=AT + minutes(1))

    committed(
        store,
        lambda uow: uow.team_memberships.reset_team_role(org.id, role),
        lambda uow: uow.roles.delete(org.id, role),
        org_id=org.id,
    )

    def after(uow: UnitOfWork) -> tuple[object, ...]:
        return (
            uow.team_memberships.list_with_role(org.id, role),
            {m.team_role for m in uow.team_memberships.all_for_team(org.id, team.id)},
            uow.team_memberships.all_for_team(org.id, other.id),
            uow.team_memberships.list_for_user(org.id, user.id),
        )

    as_member = replace(held, team_role=TeamRole.MEMBER.value)
    assert read(store, after, org_id=org.id) == ([], {"MEMBER"}, [as_member, lead], [as_member])
