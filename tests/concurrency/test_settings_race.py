"""Administrators change an organisation's settings at the same instant: no update is lost.

Each update reads the organisation, merges its change and writes it back on condition that
the stored version is still the one it read. Of N simultaneous updates, each adding its own
key, every one either succeeds or is refused with `Conflict` `organisation_changed`; every key
whose update was acknowledged is in the stored settings, and nothing else is. On SQLite the
writers queue (BEGIN IMMEDIATE) and all succeed; on PostgreSQL they really overlap.
"""

from __future__ import annotations

from functools import partial

from tenantry.bootstrap import Tenantry
from tenantry.domain.errors import Conflict
from tenantry.domain.model import Organisation
from tenantry.domain.principal import Principal
from tenantry.edge import run_use_case
from tenantry.organisations import service as organisations
from tenantry.sessions import service as sessions
from tests.concurrency.racing import race
from tests.harness import Api, StoreTarget, audit_events
from tests.org_builders import stored_organisation

WRITERS = 20


def principal_of(tenantry: Tenantry, access_token: str) -> Principal:
    """The caller as the HTTP edge derives it from a bearer token."""
    return run_use_case(
        tenantry.store.unit_of_work,
        lambda uow: sessions.authenticate(uow, tenantry.deps, access_token),
        clock=tenantry.clock,
    )


def test_simultaneous_settings_updates_never_lose_an_acknowledged_change(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    owner, org = api.owner_with_org()
    caller = principal_of(tenantry, owner.access_token)
    before = stored_organisation(tenantry, org["id"])
    assert before is not None

    def add_setting(key: str) -> Organisation:
        return run_use_case(
            tenantry.store.unit_of_work,
            lambda uow: organisations.update_organisation(
                uow, tenantry.deps, caller, org["id"], settings={key: True}
            ),
            clock=tenantry.clock,
            org_id=caller.org_id,
            user_id=caller.user_id,
        )

    keys = [f"feature_{n}" for n in range(WRITERS)]
    outcomes = dict(zip(keys, race([partial(add_setting, key) for key in keys]), strict=True))

    acknowledged = {k: o for k, o in outcomes.items() if isinstance(o, Organisation)}
    refused = [o for o in outcomes.values() if isinstance(o, Conflict)]
    unexpected = [o for o in outcomes.values() if not isinstance(o, Organisation | Conflict)]
    assert unexpected == [], f"an update must succeed or conflict, got {unexpected!r}"
    assert acknowledged, "at least the first writer must win"
    assert {error.code for error in refused} <= {"organisation_changed"}
    for key, written in acknowledged.items():
        assert written.settings[key] is True
    assert len({written.version for written in acknowledged.values()}) == len(acknowledged)
    stored = stored_organisation(tenantry, org["id"])
    assert stored is not None
    assert stored.settings == dict.fromkeys(acknowledged, True)
    assert stored.version == before.version + len(acknowledged)
    updates = audit_events(store_target, org_id=org["id"], action="organisation.update")
    assert [(e.actor_id, e.outcome.value, e.details) for e in updates] == [
        (owner.user_id, "SUCCESS", {"fields": ["settings"]})
    ] * len(acknowledged)
