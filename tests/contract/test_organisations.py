"""OrganisationsRepository: reads, batch reads, and whole-record updates by version.
(Its refused writes are in `refusals.py`.)"""

from __future__ import annotations

from dataclasses import replace

from tenantry.domain.ids import new_id
from tenantry.domain.model import OrgStatus
from tenantry.store.open import Store
from tests.contract.builders import AT, minutes
from tests.contract.steps import committed, given_member, given_org, given_user, read


def test_an_organisation_reads_back_as_it_was_added(store: Store) -> None:
    org = given_org(
        store, status=OrgStatus.PROVISIONING, authz_epoch=2, status_changed_at=AT + minutes(1)
    )
    assert read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id) == org


def test_an_unknown_organisation_is_none(store: Store) -> None:
    missing = new_id("org")
    assert read(store, lambda uow: uow.organisations.get(missing), org_id=missing) is None


def test_an_update_writes_every_changeable_field(store: Store) -> None:
    org = given_org(store, status=OrgStatus.PROVISIONING)
    changed = replace(
        org,
        name="Acme Ltd",
        settings={"theme": "light", "mfa": True},
        status=OrgStatus.DELETED,
        provisioning_step="seed_roles",
        provisioning_error="timed out",
        deleted_at=AT + minutes(9),
        status_changed_at=AT + minutes(9),
        authz_epoch=5,
        version=1,
    )
    committed(
        store, lambda uow: uow.organisations.update(changed, expected_version=0), org_id=org.id
    )
    assert read(store, lambda uow: uow.organisations.get(org.id), org_id=org.id) == changed


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
