"""OrganisationsRepository: reads, batch reads, whole-record updates by version, and the
authorisation epoch that only its own bump moves. (Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tenantry.domain.errors import Conflict
from tenantry.domain.ids import new_id
from tenantry.domain.model import Organisation, OrgStatus
from tenantry.store.open import Store
from tests.contract.builders import AT, minutes
from tests.contract.steps import committed, given_member, given_org, given_user, present, read


def _stored(store: Store, org: Organisation) -> Organisation:
    return present(read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id))


def test_an_organisation_reads_back_as_it_was_added(store: Store) -> None:
    org = given_org(
        store, status=OrgStatus.PROVISIONING, authz_epoch=2, status_changed_at=AT + minutes(1)
    )
    assert read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id) == org


def test_an_unknown_organisation_is_none(store: Store) -> None:
    missing = new_id("org")
    assert read(store, lambda uow: uow.organisations.get(missing), org_id=missing) is None


def test_an_update_writes_every_changeable_field(store: Store) -> None:
    org = given_org(store, status=OrgStatus.PROVISIONING, authz_epoch=2)
    changed = replace(
        org,
        name="Acme Ltd",
        settings={"theme": "light", "mfa": True},
        status=OrgStatus.DELETED,
        provisioning_step="seed_roles",
        provisioning_error="timed out",
        deleted_at=AT + minutes(9),
        status_changed_at=AT + minutes(9),
        version=1,
    )
    committed(
        store, lambda uow: uow.organisations.update(changed, expected_version=0), org_id=org.id
    )
    assert _stored(store, org) == changed


def test_an_update_never_writes_the_authz_epoch(store: Store) -> None:
    org = given_org(store, authz_epoch=3)
    committed(
        store, lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=3), org_id=org.id
    )
    # Read before the bump: its epoch is 3, and writing it back would undo the bump.
    renamed = replace(org, name="Acme Ltd", version=1)
    committed(
        store, lambda uow: uow.organisations.update(renamed, expected_version=0), org_id=org.id
    )
    assert _stored(store, org) == replace(renamed, authz_epoch=4)


def test_an_epoch_bump_sets_the_epoch_after_the_expected_one_and_nothing_else(
    store: Store,
) -> None:
    org = given_org(store, authz_epoch=7)
    committed(
        store, lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=7), org_id=org.id
    )
    assert _stored(store, org) == replace(org, authz_epoch=8)


def test_an_update_and_an_epoch_bump_decided_on_one_read_commit_together(store: Store) -> None:
    org = given_org(store)
    renamed = replace(org, name="Acme Ltd", version=1)
    committed(
        store,
        lambda uow: uow.organisations.update(renamed, expected_version=0),
        lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=0),
        lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=1),
        org_id=org.id,
    )
    assert _stored(store, org) == replace(renamed, authz_epoch=2)


@pytest.mark.races
def test_of_racing_epoch_bumps_from_one_epoch_exactly_one_commits(store: Store) -> None:
    org = given_org(store)

    def change_access(_: int) -> str:
        try:
            committed(
                store,
                lambda uow: uow.organisations.bump_authz_epoch(org.id, expected=0),
                org_id=org.id,
            )
        except Conflict as error:
            return error.code
        return "committed"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(change_access, range(8)))
    assert outcomes == ["access_changed"] * 7 + ["committed"]
    assert _stored(store, org).authz_epoch == 1


def test_each_update_is_made_from_the_version_it_read(store: Store) -> None:
    org = given_org(store)

    def rename(version: int) -> None:
        renamed = replace(org, name=f"Acme {version}", version=version)
        committed(
            store,
            lambda uow: uow.organisations.update(renamed, expected_version=version - 1),
            org_id=org.id,
        )

    for version in (1, 2, 3):
        rename(version)
    stored = read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id)
    assert stored == replace(org, name="Acme 3", version=3)


def test_get_many_returns_those_that_exist(store: Store) -> None:
    user = given_user(store)
    first, second = given_org(store), given_org(store, status=OrgStatus.DELETED)
    for org in (first, second):
        given_member(store, org, user)
    wanted = [second.id, new_id("org"), first.id]
    found = read(store, lambda uow: uow.organisations.get_many(wanted), user_id=user.id)
    assert sorted(found, key=lambda org: org.id) == sorted([first, second], key=lambda o: o.id)


def test_get_many_of_nothing_is_empty(store: Store) -> None:
    assert read(store, lambda uow: uow.organisations.get_many([])) == []


def test_an_organisation_id_is_found_by_its_slug_with_nothing_bound(store: Store) -> None:
    org, other = given_org(store), given_org(store)
    # Unbound, as an operator naming an organisation is: on PostgreSQL RLS hides every row.
    assert read(store, lambda uow: uow.organisations.get_id_by_slug(org.slug)) == org.id
    assert read(store, lambda uow: uow.organisations.get_id_by_slug(other.slug)) == other.id


def test_a_deleted_organisation_is_still_found_by_its_slug(store: Store) -> None:
    org = given_org(store, status=OrgStatus.DELETED, deleted_at=AT + minutes(1))
    assert read(store, lambda uow: uow.organisations.get_id_by_slug(org.slug)) == org.id


def test_an_unknown_slug_finds_no_organisation(store: Store) -> None:
    org = given_org(store)
    unknown = [f"{org.slug}-x", org.slug.upper(), org.id]
    found = read(store, lambda uow: [uow.organisations.get_id_by_slug(s) for s in unknown])
    assert found == [None, None, None]
