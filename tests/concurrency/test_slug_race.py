"""Many people register the same slug at the same instant: one organisation, the rest refused.

Threads are released together by a barrier, on SQLite (one writer at a time, BEGIN IMMEDIATE),
on PostgreSQL (row-level security, the unique index decides) and on DynamoDB (the slug's
item, written with `attribute_not_exists` in the organisation's transaction, decides). Every
loser must get the domain's `Conflict` with code `slug_taken`: no "database is locked", no
500, no second row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import ActorType, Outcome
from tenantry.domain.errors import Conflict
from tenantry.domain.model import Organisation, User
from tenantry.domain.principal import Principal
from tenantry.domain.roles import OrgRole
from tenantry.edge import run_use_case
from tenantry.organisations.service import register_organisation
from tenantry.store.sql.tables import audit_events, memberships, organisations
from tests.concurrency.racing import race, verified_users
from tests.harness import (
    ON_EVERY_STORE,
    Api,
    StoreTarget,
    bearer,
    dynamo_rows,
    privileged,
    unique_slug,
)

pytestmark = [ON_EVERY_STORE, pytest.mark.races]

SERVICE_RACERS = 50
HTTP_RACERS = 10


@dataclass
class SlugState:
    """What the database holds for one slug, read past row-level security."""

    organisations: list[Any]
    memberships: list[Any]
    create_events: list[Any]


def slug_state(target: StoreTarget, slug: str, racers: list[User]) -> SlugState:
    if target.name == "dynamo":
        return _slug_state_on_dynamo(target, slug, racers)
    with privileged(target) as db:
        orgs = db.execute(sa.select(organisations).where(organisations.c.slug == slug)).all()
        members = db.execute(
            sa.select(memberships)
            .join(organisations, organisations.c.id == memberships.c.org_id)
            .where(organisations.c.slug == slug)
        ).all()
        events = db.execute(
            sa.select(audit_events).where(
                audit_events.c.action == "organisation.create",
                audit_events.c.actor_id.in_([user.id for user in racers]),
            )
        ).all()
    return SlugState(list(orgs), list(members), list(events))


def _slug_state_on_dynamo(target: StoreTarget, slug: str, racers: list[User]) -> SlugState:
    orgs = [o for o in dynamo_rows(target.url, "organisation") if o.slug == slug]
    ids = {org.id for org in orgs}
    members = [m for m in dynamo_rows(target.url, "membership") if m.org_id in ids]
    actors = {user.id for user in racers}
    events = [
        e
        for e in dynamo_rows(target.url, "audit_event")
        if e.action == "organisation.create" and getattr(e, "actor_id", None) in actors
    ]
    return SlugState(orgs, members, events)


def assert_one_winner_one_owner(state: SlugState, winner_id: str) -> None:
    assert [row.created_by for row in state.organisations] == [winner_id]
    org_id = state.organisations[0].id
    assert [(m.org_id, m.user_id, m.org_role) for m in state.memberships] == [
        (org_id, winner_id, OrgRole.OWNER.value)
    ]
    assert [(e.org_id, e.actor_id, e.outcome) for e in state.create_events] == [
        (org_id, winner_id, Outcome.SUCCESS.value)
    ]


def test_fifty_simultaneous_registrations_of_one_slug_create_one_organisation(
    tenantry: Tenantry, store_target: StoreTarget
) -> None:
    slug = unique_slug("race")
    racers = verified_users(tenantry, SERVICE_RACERS)

    def register_as(user: User) -> Callable[[], Organisation]:
        principal = Principal(user_id=user.id, actor_type=ActorType.USER)
        return lambda: run_use_case(
            tenantry.store.unit_of_work,
            lambda uow: register_organisation(
                uow, tenantry.deps, principal, owner_id=user.id, name="Race Ltd", slug=slug
            ),
            clock=tenantry.clock,
        )

    outcomes = race([register_as(user) for user in racers])

    won = [o for o in outcomes if isinstance(o, Organisation)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    unexpected = [o for o in outcomes if not isinstance(o, Organisation | Conflict)]
    assert unexpected == [], f"losers must get Conflict(slug_taken), got {unexpected!r}"
    assert len(won) == 1
    assert len(refused) == SERVICE_RACERS - 1
    assert {error.code for error in refused} == {"slug_taken"}
    assert_one_winner_one_owner(slug_state(store_target, slug, racers), won[0].created_by)


def test_ten_simultaneous_http_registrations_of_one_slug_give_one_201_and_nine_409(
    api: Api, tenantry: Tenantry, store_target: StoreTarget
) -> None:
    slug = unique_slug("race")
    racers = verified_users(tenantry, HTTP_RACERS)
    tokens = {user.id: api.login(user.email).json()["access_token"] for user in racers}

    def register_as(user: User) -> Callable[[], Response]:
        # One client per thread: nothing of the HTTP client is shared between racers.
        client = TestClient(api.client.app, raise_server_exceptions=False)
        return lambda: client.post(
            "/v1/organisations",
            json={"name": "Race Ltd", "slug": slug},
            headers=bearer(tokens[user.id]),
        )

    responses = race([register_as(user) for user in racers])

    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert statuses == [201] + [409] * (HTTP_RACERS - 1), [
        getattr(r, "text", repr(r)) for r in responses
    ]
    answered = [r for r in responses if isinstance(r, Response)]
    assert len(answered) == HTTP_RACERS, responses  # as the statuses say: no racer raised
    created = next(r.json() for r in answered if r.status_code == 201)
    assert (created["slug"], created["status"]) == (slug, "ACTIVE")
    assert {r.json()["code"] for r in answered if r.status_code == 409} == {"slug_taken"}
    winner = next(u for u in racers if created["id"] in _my_org_ids(api, tokens[u.id]))
    assert_one_winner_one_owner(slug_state(store_target, slug, racers), winner.id)


def _my_org_ids(api: Api, token: str) -> set[str]:
    response = api.client.get("/v1/organisations", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}
