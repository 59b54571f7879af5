"""The audit log's hash chain as pure rules: the canonical form an event is hashed in (with the
published test vector, `audit_chain_vector.json`, that docs/audit.md quotes), how events are
placed on a chain, and how a walk over stored events names the first link that does not hold."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tenantry.domain.audit import ActorType, AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.audit import unchained_event as drafted
from tenantry.domain.audit_chain import (
    GENESIS,
    NO_ANCHOR,
    SYSTEM_CHAIN,
    Anchor,
    ChainBreak,
    ChainHead,
    canonical_bytes,
    canonical_fields,
    chain_of,
    chained,
    first_break,
    hash_of,
    in_seq_order,
    timestamp,
)

VECTOR = Path(__file__).with_name("audit_chain_vector.json")
# Written down here as well as in the vector file, so that regenerating the file from the code
# cannot quietly move the published hash.
VECTOR_SHA256 = "4fc62b06914d3e8f1fc92a4e3395186bbeb2f01ea52fd0ce60588606fb25e20c"

AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ORG = "org_unitchain0000000000000"
CHAIN_LENGTH = 5


def vector() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTOR.read_text(encoding="utf-8"))
    return loaded


def vector_event() -> AuditEvent:
    given = vector()["event"]
    return AuditEvent(
        **{
            **given,
            "occurred_at": datetime.fromisoformat(given["occurred_at"]),
            "event_type": EventType(given["event_type"]),
            "outcome": Outcome(given["outcome"]),
            "actor_type": ActorType(given["actor_type"]),
        }
    )


def event(n: int = 0, *, at: datetime = AT, org_id: str | None = ORG, **changes: Any) -> AuditEvent:
    draft = AuditDraft(
        event_type=EventType.TEAM_MEMBERSHIP,
        action=f"team.step_{n}",
        outcome=Outcome.SUCCESS,
        org_id=org_id,
        actor_id="usr_unitchain0000000000000",
        resource_type="team",
        resource_id=f"team_{n}",
        details={"n": n},
    )
    return replace(drafted(draft, at=at, request_id=f"req-{n}"), **changes)


def a_chain(length: int = CHAIN_LENGTH) -> tuple[list[AuditEvent], ChainHead]:
    return chained(ChainHead(ORG), [event(n, at=AT + timedelta(seconds=n)) for n in range(length)])


def walk(
    events: list[AuditEvent], head: ChainHead | None, anchor: Anchor = NO_ANCHOR
) -> tuple[ChainBreak | None, int]:
    return first_break(ORG, in_seq_order(events), anchor=anchor, head=head)


def problem_at(broken: ChainBreak | None) -> tuple[str, int | None, str | None]:
    assert broken is not None, "the chain was expected to break"
    return broken.problem, broken.seq, broken.event_id


# --- the canonical form and the test vector --------------------------------------------------


def test_the_vector_events_canonical_bytes_are_the_published_ones() -> None:
    published = vector()

    canonical = canonical_bytes(vector_event())

    assert canonical == published["canonical"].encode("utf-8")
    assert canonical == bytes.fromhex(published["canonical_utf8_hex"])


def test_the_vector_events_hash_is_the_published_sha256() -> None:
    assert hash_of(vector_event()) == vector()["sha256"] == VECTOR_SHA256
    assert vector_event().hash == VECTOR_SHA256  # the vector is an event as stored


def test_the_canonical_form_holds_every_field_of_the_event_but_its_own_hash() -> None:
    names = {field.name for field in fields(AuditEvent)}

    assert set(canonical_fields(vector_event())) == names - {"hash"}


@pytest.mark.parametrize("name", sorted(canonical_fields(vector_event())))
def test_changing_any_hashed_field_changes_the_hash(name: str) -> None:
    original = vector_event()
    other_values: dict[str, Any] = {
        "event_id": "evt_another000000000000000",
        "org_id": None,
        "seq": 4,
        "occurred_at": original.occurred_at + timedelta(microseconds=1),
        "event_type": EventType.PERMISSION_CHANGE,
        "action": "member.role_changed",
        "outcome": Outcome.DENIED,
        "actor_id": None,
        "actor_type": ActorType.SYSTEM,
        "resource_type": "membership",
        "resource_id": "usr_another000000000000000",
        "reason": "",
        "details": {**original.details, "authz_epoch": 8},
        "request_id": None,
        "prev_hash": GENESIS,
    }

    assert hash_of(replace(original, **{name: other_values[name]})) != hash_of(original)


def test_the_stored_hash_is_not_part_of_what_is_hashed() -> None:
    original = vector_event()

    assert hash_of(replace(original, hash="f" * 64)) == hash_of(replace(original, hash=None))


def test_the_order_in_which_details_were_built_does_not_change_the_hash() -> None:
    original = vector_event()
    reversed_details = dict(reversed(list(original.details.items())))

    assert hash_of(replace(original, details=reversed_details)) == hash_of(original)


def test_times_are_hashed_in_utc_with_microseconds_and_a_z() -> None:
    two_hours_east = timezone(timedelta(hours=2))

    assert timestamp(datetime(2030, 1, 1, 14, 0, 0, 5, tzinfo=two_hours_east)) == (
        "2030-01-01T12:00:00.000005Z"
    )
    assert timestamp(AT) == "2030-01-01T12:00:00.000000Z"


def test_the_same_moment_in_another_zone_hashes_the_same() -> None:
    original = vector_event()
    elsewhere = original.occurred_at.astimezone(timezone(timedelta(hours=-5)))

    assert hash_of(replace(original, occurred_at=elsewhere)) == hash_of(original)


def test_events_of_no_organisation_are_on_the_system_chain() -> None:
    assert chain_of(None) == SYSTEM_CHAIN == "system"
    assert chain_of(ORG) == ORG


# --- placing events on a chain --------------------------------------------------------------


def test_a_new_chain_starts_at_seq_1_after_the_genesis_hash() -> None:
    linked, head = a_chain(3)

    assert [e.seq for e in linked] == [1, 2, 3]
    assert [e.prev_hash for e in linked] == [GENESIS, linked[0].hash, linked[1].hash]
    assert all(e.hash == hash_of(e) for e in linked)
    assert head == ChainHead(ORG, 3, linked[2].hash or "", linked[2].occurred_at)
    assert GENESIS == "0" * 64


def test_appending_continues_from_the_head_as_one_longer_append_would() -> None:
    drafts = [event(n, at=AT + timedelta(seconds=n)) for n in range(4)]
    whole, whole_head = chained(ChainHead(ORG), drafts)

    first, middle = chained(ChainHead(ORG), drafts[:2])
    second, end = chained(middle, drafts[2:])

    assert first + second == whole
    assert end == whole_head


def test_placing_nothing_leaves_the_head_where_it_was() -> None:
    _, head = a_chain(2)

    assert chained(head, []) == ([], head)


def test_an_event_stamped_before_its_predecessor_keeps_its_time_and_the_head_the_lag() -> None:
    late, early = event(0, at=AT), event(1, at=AT - timedelta(minutes=3))
    later = event(2, at=AT + timedelta(seconds=1))

    linked, head = chained(ChainHead(ORG), [late, early, later])

    assert [e.occurred_at for e in linked] == [
        late.occurred_at,
        early.occurred_at,
        later.occurred_at,
    ]
    assert (head.latest_at, head.backstep) == (AT + timedelta(seconds=1), timedelta(minutes=3))
    assert linked[1].hash == hash_of(linked[1])


def test_the_lag_is_measured_from_the_latest_time_and_never_shrinks() -> None:
    _, head = chained(ChainHead(ORG), [event(0, at=AT + timedelta(hours=1))])

    [placed], behind = chained(head, [event(1, at=AT)])
    _, caught_up = chained(behind, [event(2, at=AT + timedelta(hours=2))])

    assert placed.occurred_at == AT
    assert behind.backstep == timedelta(hours=1)
    assert (caught_up.latest_at, caught_up.backstep) == (
        AT + timedelta(hours=2),
        timedelta(hours=1),
    )


def test_a_chain_whose_clock_never_runs_backwards_has_no_lag() -> None:
    _, head = a_chain(4)

    assert head.backstep == timedelta(0)


# --- walking a stored chain ------------------------------------------------------------------


def test_an_intact_chain_has_no_break_and_every_event_is_read() -> None:
    linked, head = a_chain()

    assert walk(linked, head) == (None, CHAIN_LENGTH)


def test_an_empty_chain_with_an_empty_head_is_intact() -> None:
    assert walk([], ChainHead(ORG)) == (None, 0)


def test_an_edited_event_is_a_hash_mismatch_at_that_event() -> None:
    linked, head = a_chain()
    linked[2] = replace(linked[2], action="team.delete")

    broken, read = walk(linked, head)

    assert problem_at(broken) == ("hash_mismatch", 3, linked[2].event_id)
    assert read == 3  # nothing after the break is read


def test_a_missing_event_is_a_seq_gap_at_the_next() -> None:
    linked, head = a_chain()
    gone = linked.pop(1)

    broken, _ = walk(linked, head)

    assert problem_at(broken) == ("seq_gap", 3, linked[1].event_id)
    assert gone.seq == 2


def test_an_edited_event_given_a_fresh_hash_breaks_the_link_to_the_next() -> None:
    linked, head = a_chain()
    edited = replace(linked[1], details={"n": 99})
    linked[1] = replace(edited, hash=hash_of(edited))

    broken, _ = walk(linked, head)

    assert problem_at(broken) == ("prev_hash_mismatch", 3, linked[2].event_id)


def test_two_events_that_swapped_places_break_at_the_first_of_them() -> None:
    linked, head = a_chain()
    second, third = linked[1], linked[2]
    linked[1], linked[2] = replace(third, seq=2), replace(second, seq=3)

    broken, _ = walk(linked, head)

    assert problem_at(broken) == ("hash_mismatch", 2, third.event_id)


def test_an_event_without_a_place_in_the_chain_is_reported_first() -> None:
    linked, head = a_chain()
    stray = event(9)  # never chained: no seq, no hashes

    broken, _ = walk([*linked, stray], head)

    assert problem_at(broken) == ("unchained", None, stray.event_id)


def test_a_cut_off_end_is_a_head_mismatch_at_the_last_event_left() -> None:
    linked, head = a_chain()

    broken, read = walk(linked[:3], head)

    assert problem_at(broken) == ("head_mismatch", 3, linked[2].event_id)
    assert read == 3


def test_an_event_added_after_the_head_is_a_head_mismatch_at_it() -> None:
    linked, head = a_chain()
    [forged], _ = chained(head, [event(7, at=AT + timedelta(hours=1))])

    broken, _ = walk([*linked, forged], head)

    assert problem_at(broken) == ("head_mismatch", CHAIN_LENGTH + 1, forged.event_id)


def test_without_a_known_head_an_archive_is_checked_for_its_links_only() -> None:
    linked, _ = a_chain()

    assert walk(linked[:3], None) == (None, 3)


def test_a_pruned_chain_is_checked_from_its_anchor() -> None:
    linked, head = a_chain()
    anchor = Anchor(2, linked[1].hash or "")

    assert walk(linked[2:], head, anchor) == (None, CHAIN_LENGTH - 2)


def test_a_first_stored_event_that_does_not_follow_the_anchor_is_an_anchor_mismatch() -> None:
    linked, head = a_chain()

    broken, _ = walk(linked[2:], head, Anchor(2, "a" * 64))

    assert problem_at(broken) == ("anchor_mismatch", 3, linked[2].event_id)


def test_events_missing_right_after_the_anchor_are_a_seq_gap() -> None:
    linked, head = a_chain()

    broken, _ = walk(linked[3:], head, Anchor(2, linked[1].hash or ""))

    assert problem_at(broken) == ("seq_gap", 4, linked[3].event_id)


def test_a_walk_sorts_by_seq_with_unchained_rows_first() -> None:
    linked, _ = a_chain(3)
    stray = event(8)

    ordered = list(in_seq_order([linked[2], stray, linked[0], linked[1]]))

    assert [e.event_id for e in ordered] == [stray.event_id, *(e.event_id for e in linked)]
