"""AuditRepository: an appended draft becomes an event of its unit of work's request, and
`find` filters by organisation (None: account events), actor, action and outcome."""

from __future__ import annotations

from dataclasses import replace

from tenantry.audit.ports import AuditQuery
from tenantry.domain.audit import AuditDraft, AuditEvent, Outcome
from tenantry.domain.ids import new_id
from tenantry.store.open import Store
from tests.contract.builders import AT, make_draft, minutes


def _append(store: Store, *drafts: tuple[AuditDraft, int], request_id: str | None = None) -> None:
    """Append each draft at AT plus its minutes, in one unit of work scoped as the first
    draft's (PostgreSQL lets a unit of work append events of its own organisation only)."""
    first, _ = drafts[0]
    with store.unit_of_work(
        org_id=first.org_id, user_id=first.actor_id, request_id=request_id
    ) as uow:
        for draft, offset in drafts:
            uow.audit.append(draft, at=AT + minutes(offset))
        uow.commit()


def _find(store: Store, query: AuditQuery) -> list[AuditEvent]:
    with store.unit_of_work(org_id=query.org_id, user_id=query.actor_id) as uow:
        return uow.audit.find(query)


def test_an_appended_draft_becomes_an_event_of_the_units_request(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"), reason="renamed")
    _append(store, (draft, 0), request_id="req-contract-1")
    [event] = _find(store, AuditQuery(org_id=draft.org_id, actor_id=draft.actor_id))
    assert event.event_id.startswith("evt_")
    assert event == AuditEvent(
        event_id=event.event_id,
        org_id=draft.org_id,
        occurred_at=AT,
        event_type=draft.event_type,
        action=draft.action,
        outcome=draft.outcome,
        actor_id=draft.actor_id,
        actor_type=draft.actor_type,
        resource_type=draft.resource_type,
        resource_id=draft.resource_id,
        reason="renamed",
        details=draft.details,
        request_id="req-contract-1",
        seq=None,
        prev_hash=None,
        hash=None,
    )


def test_overlong_resource_and_reason_are_clipped_to_their_columns(store: Store) -> None:
    draft = make_draft(
        org_id=new_id("org"), resource_type="t" * 50, resource_id="i" * 150, reason="r" * 250
    )
    _append(store, (draft, 0))
    [event] = _find(store, AuditQuery(org_id=draft.org_id, actor_id=draft.actor_id))
    assert (event.resource_type, event.resource_id, event.reason) == (
        "t" * 40,
        "i" * 100,
        "r" * 200,
    )


def test_events_are_found_in_time_order_up_to_the_limit(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    _append(store, *[(replace(draft, action=f"step.{n}"), 5 - n) for n in range(5)])
    found = _find(store, AuditQuery(org_id=draft.org_id, limit=3))
    assert [event.action for event in found] == ["step.4", "step.3", "step.2"]


def test_events_at_the_same_time_are_ordered_by_event_id(store: Store) -> None:
    draft = make_draft(org_id=new_id("org"))
    _append(store, (draft, 0), (draft, 0), (draft, 0))
    found = _find(store, AuditQuery(org_id=draft.org_id))
    assert [event.event_id for event in found] == sorted(event.event_id for event in found)
    assert len(found) == 3


def test_find_filters_by_actor_action_and_outcome(store: Store) -> None:
    org_id, actor, other = new_id("org"), new_id("usr"), new_id("usr")
    wanted = make_draft(org_id=org_id, actor_id=actor, action="role.grant", outcome=Outcome.DENIED)
    _append(
        store,
        (wanted, 0),
        (replace(wanted, actor_id=other), 1),
        (replace(wanted, action="role.revoke"), 2),
        (replace(wanted, outcome=Outcome.SUCCESS), 3),
    )
    _append(store, (replace(wanted, org_id=new_id("org")), 4))
    query = AuditQuery(org_id=org_id, actor_id=actor, action="role.grant", outcome=Outcome.DENIED)
    assert [event.occurred_at for event in _find(store, query)] == [AT]


def test_an_organisation_of_none_finds_only_account_events(store: Store) -> None:
    actor = new_id("usr")
    account_event = make_draft(org_id=None, actor_id=actor, action="user.login")
    _append(store, (account_event, 0))
    _append(store, (replace(account_event, org_id=new_id("org"), action="org.update"), 1))
    found = _find(store, AuditQuery(org_id=None, actor_id=actor))
    assert [(event.org_id, event.action) for event in found] == [(None, "user.login")]


def test_find_filters_by_the_request_that_recorded_the_events(store: Store) -> None:
    actor = new_id("usr")
    draft = make_draft(org_id=None, actor_id=actor, action="auth.refresh")
    _append(store, (draft, 0), request_id=f"req-{actor}-a")
    _append(store, (replace(draft, action="auth.logout"), 1), request_id=f"req-{actor}-b")

    found = _find(store, AuditQuery(org_id=None, actor_id=actor, request_id=f"req-{actor}-b"))

    assert [(event.action, event.request_id) for event in found] == [
        ("auth.logout", f"req-{actor}-b")
    ]
