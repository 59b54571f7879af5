"""The compiled decision: organisation-wide grants, team grants only within their team, the
most specific grant reported, and why a denial is one."""

from __future__ import annotations

from tenantry.domain.access import AccessSnapshot, Grant
from tenantry.domain.decision import MAX_ANSWERS_PER_SNAPSHOT, CompiledAccess, Reason
from tenantry.domain.roles import OrgRole

TEAM = "team_web"


def compiled(*grants: Grant) -> CompiledAccess:
    return CompiledAccess.of(AccessSnapshot("org_a", "usr_a", OrgRole.MEMBER, 3, grants))


def test_a_team_grant_counts_only_within_its_team() -> None:
    access = compiled(Grant("team:member:add", f"team:{TEAM}/LEAD", TEAM))

    within = access.decide("team:member:add", TEAM)
    elsewhere = access.decide("team:member:add", "team_other")
    organisation_wide = access.decide("team:member:add")

    assert (within.allowed, within.reason) == (True, Reason.GRANTED)
    assert within.grant == Grant("team:member:add", f"team:{TEAM}/LEAD", TEAM)
    assert (elsewhere.allowed, elsewhere.reason) == (False, Reason.NOT_IN_TEAM)
    assert (organisation_wide.allowed, organisation_wide.reason) == (
        False,
        Reason.NO_MATCHING_PERMISSION,
    )


def test_the_more_specific_of_an_organisation_and_a_team_grant_is_reported() -> None:
    access = compiled(
        Grant("site:*", "role:rol_a(Editor)"),
        Grant("site:publish", f"team:{TEAM}/rol_b(Publisher)", TEAM),
    )

    assert access.decide("site:publish", TEAM).grant == Grant(
        "site:publish", f"team:{TEAM}/rol_b(Publisher)", TEAM
    )
    assert access.decide("site:publish").grant == Grant("site:*", "role:rol_a(Editor)")


def test_an_unknown_team_is_named_as_such_when_nothing_else_allows() -> None:
    access = compiled(Grant("organisation:read", "org_role:MEMBER"))

    missing = access.decide("site:read", "team_gone", team_exists=False)
    held_anyway = access.decide("organisation:read", "team_gone", team_exists=False)

    assert (missing.allowed, missing.reason) == (False, Reason.TEAM_NOT_FOUND)
    assert (held_anyway.allowed, held_anyway.reason) == (True, Reason.GRANTED)


def test_answers_are_remembered_up_to_a_bound() -> None:
    access = compiled(Grant("*:*", "org_role:OWNER"))

    for n in range(MAX_ANSWERS_PER_SNAPSHOT + 10):
        assert access.decide(f"thing:n{n}").allowed

    assert len(access.answers) == MAX_ANSWERS_PER_SNAPSHOT
