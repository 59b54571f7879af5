"""Archiving the audit log, checking an archive against its digests and the database, and
pruning the events an archive holds. Operator work: every step runs as `SYSTEM`.

A run (`archive_audit`) goes in four steps, each safe to stop after:

1. It reads the archive's newest digest and checks its signature. If that digest lists
   objects beyond the database's marks (a run that wrote its digest and stopped before its
   marks), it checks those objects and advances the marks from it.
2. For every chain it reads the events after the chain's mark and before `until` (a UTC
   midnight: only whole days) and writes them, a day at a time, as objects that are never
   overwritten (`put_if_absent`).
3. It writes one digest listing every object it wrote, signed with the current signing key
   and chained to the digest before by its SHA-256.
4. It moves each chain's mark to its last archived event, one unit of work per chain; the
   last one also records `audit.archive`.

Until its marks move, a rerun reads the same events and makes the same bytes, which it finds
already written. A digest is written after its objects and before any mark, so no mark ever
vouches for what no digest lists. docs/audit-archive.md has the fault model step by step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby, takewhile
from typing import TYPE_CHECKING, Protocol, TypeVar

from tenantry.archive import (
    DIGESTS,
    EVENT_PREFIXES,
    Digest,
    DigestRefused,
    MalformedObject,
    ObjectEntry,
    day_of,
    digest_key,
    digest_number,
    entry_for,
    events_of,
    object_bytes,
    object_key,
    read_digest,
    sha256_hex,
    signed_digest,
)
from tenantry.archive.ports import Archive, ObjectDiffers
from tenantry.audit.ports import AuditQuery, ChainState
from tenantry.audit.service import WALK_PAGE, verify_chain
from tenantry.domain.audit import ActorType, AuditDraft, AuditEvent, EventType, Outcome
from tenantry.domain.audit_chain import (
    NO_ANCHOR,
    SYSTEM_CHAIN,
    Anchor,
    ChainBreak,
    chain_of,
    first_break,
    timestamp,
)
from tenantry.domain.errors import Conflict, Invalid, TenantryError, Unavailable
from tenantry.domain.model import KeyState, SigningKey
from tenantry.domain.principal import SYSTEM
from tenantry.edge import record_refusal, run_use_case
from tenantry.tokens.keys import SIGNING_ALGS, PrivateKey, load_private_key
from tenantry.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from tenantry.bootstrap import Tenantry

T = TypeVar("T")
MAX_EVENTS_PER_OBJECT = 20_000  # a busier day of one chain takes several objects
ARCHIVE_RESOURCE = "audit_archive"
CHAIN_RESOURCE = "audit_chain"


class Progress(Protocol):
    def start(self, chains: int) -> None:
        """A run starts, over this many chains."""

    def chain(self, chain_id: str, pending: int) -> None:
        """A chain starts, with at most `pending` events to archive."""

    def archived(self, events: int) -> None:
        """`events` more events of the chain are in the archive."""


class NoProgress:
    def start(self, chains: int) -> None:
        pass

    def chain(self, chain_id: str, pending: int) -> None:
        pass

    def archived(self, events: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ArchiveRun:
    """What a run did. `digest` is the number of the digest it wrote (None: nothing new);
    `recovered`, that of an earlier run's digest whose marks it advanced. `broken`: chains
    archived only up to the first link that does not hold (their marks stop there)."""

    archive: str
    until: date
    digest: int | None
    recovered: int | None
    objects: tuple[ObjectEntry, ...]
    written: int
    broken: tuple[ChainBreak, ...]


def archive_audit(
    tenantry: Tenantry,
    archive: Archive,
    *,
    until: date | None = None,
    progress: Progress | None = None,
    events_per_object: int = MAX_EVENTS_PER_OBJECT,
) -> ArchiveRun:
    """Archive every chain's events before `until` (default: today, UTC); the days before
    it must be over. A failure is recorded as `audit.archive` FAILURE and raised."""
    cutoff = archive_cutoff(tenantry, until)
    try:
        return _run(tenantry, archive, cutoff, progress or NoProgress(), events_per_object)
    except TenantryError as error:
        _record_failure(tenantry, archive, "audit.archive", error)
        raise


def archive_cutoff(tenantry: Tenantry, until: date | None) -> datetime:
    today = tenantry.clock.now().astimezone(UTC).date()
    day = until or today
    if day > today:
        raise Invalid(
            f"--until {day} is after today ({today}, UTC): only days that are over are archived",
            code="archive_day_incomplete",
        )
    return datetime.combine(day, time(), UTC)


def _run(
    tenantry: Tenantry, archive: Archive, cutoff: datetime, progress: Progress, per_object: int
) -> ArchiveRun:
    latest = latest_digest(archive, verification_keys(tenantry))
    recovered = _recover(tenantry, archive, latest)
    states = _as_operator(tenantry, lambda uow: uow.audit.chains())
    progress.start(len(states))
    walks = [
        _archive_chain(tenantry, archive, state, cutoff, progress, per_object) for state in states
    ]
    entries = tuple(entry for walk in walks for entry in walk.entries)
    number = None
    if entries:
        number = _write_digest(tenantry, archive, latest, entries)
    return ArchiveRun(
        archive=archive.url,
        until=cutoff.date(),
        digest=number,
        recovered=recovered,
        objects=entries,
        written=sum(walk.written for walk in walks),
        broken=tuple(walk.broken for walk in walks if walk.broken is not None),
    )


# --- step 1: the newest digest, and the marks it may be ahead of ---------------------------


@dataclass(frozen=True, slots=True)
class StoredDigest:
    digest: Digest
    data: bytes


def latest_digest(archive: Archive, keys: Mapping[str, SigningKey]) -> StoredDigest | None:
    """The archive's newest digest, checked; Conflict `archive_broken` if it does not verify
    (a run never chains its digest to one tenantry did not sign)."""
    numbers = [n for key in archive.list(DIGESTS) if (n := digest_number(key)) is not None]
    if not numbers:
        return None
    number = max(numbers)
    data = archive.get(digest_key(number))
    try:
        if data is None:
            raise DigestRefused("digest_missing", "it was listed, then could not be read")
        digest = read_digest(data, keys)
        if digest.number != number:
            raise DigestRefused("digest_number_mismatch", f"it says it is {digest.number}")
    except DigestRefused as refused:
        raise Conflict(
            f"the archive's newest digest, {digest_key(number)}, does not verify "
            f"({refused.problem}: {refused.detail}); see `tenantry audit verify --from`",
            code="archive_broken",
        ) from refused
    return StoredDigest(digest, data)


@dataclass(frozen=True, slots=True)
class _Move:
    org_id: str | None
    was: Anchor
    now: Anchor


def _recover(tenantry: Tenantry, archive: Archive, latest: StoredDigest | None) -> int | None:
    if latest is None:
        return None
    moves = _moves(tenantry, latest.digest)
    if not moves:
        return None
    behind = {chain_of(move.org_id) for move in moves}
    for entry in latest.digest.objects:
        if entry.chain_id in behind:
            _check_written(archive, entry)
    _apply(tenantry, moves, _archive_event(archive, latest.digest, recovered=True))
    return latest.digest.number


def _check_written(archive: Archive, entry: ObjectEntry) -> None:
    data = archive.get(entry.key)
    if data is None or sha256_hex(data) != entry.sha256:
        raise Conflict(
            f"{entry.key}, listed by the newest digest, is missing or altered; "
            "see `tenantry audit verify --from`",
            code="archive_broken",
        )


def _moves(tenantry: Tenantry, digest: Digest) -> list[_Move]:
    """The marks `digest` is ahead of, each from where it is to the end of its chain's
    objects. Conflict `archive_out_of_step` when a mark is neither at the start nor at the
    end of them (the database is not the one this archive was made from)."""
    states = {s.head.chain_id: s for s in _as_operator(tenantry, lambda uow: uow.audit.chains())}
    moves = []
    for chain_id, listed in groupby(digest.objects, key=lambda entry: entry.chain_id):
        entries = list(listed)
        state = states.get(chain_id)
        first, last = entries[0], entries[-1]
        end = Anchor(last.last_seq, last.last_hash)
        if state is not None and state.archived == end:
            continue
        start = Anchor(first.first_seq - 1, first.first_prev_hash)
        if state is None or state.archived != start:
            raise _out_of_step(chain_id, digest.number, state)
        moves.append(_Move(first.org_id, start, end))
    return moves


def _out_of_step(chain_id: str, number: int, state: ChainState | None) -> Conflict:
    where = "has no such chain" if state is None else f"marks seq {state.archived.seq}"
    return Conflict(
        f"digest {number} lists chain {chain_id}, whose archive mark in the database {where}: "
        "this database and this archive do not belong together",
        code="archive_out_of_step",
    )


def _apply(tenantry: Tenantry, moves: list[_Move], event: AuditDraft) -> None:
    for index, move in enumerate(moves):
        draft = event if index == len(moves) - 1 else None
        marking = _marking(tenantry, move, draft)
        _as_operator(tenantry, marking, org_id=move.org_id, label="audit.archive")


def _marking(
    tenantry: Tenantry, move: _Move, event: AuditDraft | None
) -> Callable[[UnitOfWork], None]:
    def mark(uow: UnitOfWork) -> None:
        uow.audit.mark_archived(move.org_id, was=move.was, now=move.now)
        if event is not None:  # the run is on record once its last mark has moved
            uow.audit.append(event, at=tenantry.clock.now())

    return mark


# --- step 2: objects ----------------------------------------------------------------------


@dataclass(slots=True)
class _ChainWalk:
    entries: list[ObjectEntry] = field(default_factory=list)
    written: int = 0
    broken: ChainBreak | None = None


def _archive_chain(
    tenantry: Tenantry,
    archive: Archive,
    state: ChainState,
    cutoff: datetime,
    progress: Progress,
    per_object: int,
) -> _ChainWalk:
    chain_id = state.head.chain_id
    progress.chain(chain_id, state.head.seq - state.archived.seq)
    walk, anchor = _ChainWalk(), state.archived
    for events in _objects(_events_after(tenantry, state, cutoff), per_object):
        # An event that does not follow its predecessor is never signed into the archive:
        # the chain is archived up to the one before it.
        walk.broken, read = first_break(chain_id, events, anchor=anchor, head=None)
        linked = events if walk.broken is None else events[: read - 1]
        if linked:
            entry, created = _write_object(archive, linked)
            walk.entries.append(entry)
            walk.written += created
            anchor = Anchor(entry.last_seq, entry.last_hash)
            progress.archived(len(linked))
        if walk.broken is not None:
            break
    return walk


def _events_after(tenantry: Tenantry, state: ChainState, cutoff: datetime) -> Iterator[AuditEvent]:
    """The chain's events after its mark, in seq order, up to the first one stamped at or
    after `cutoff`: a clock that ran ahead holds the rest back until that day is over, so
    the archive never skips a seq."""
    org_id, seq = state.org_id, state.archived.seq
    while True:
        query = AuditQuery(org_id=org_id, after_seq=seq, limit=WALK_PAGE)
        page = _as_operator(tenantry, lambda uow: uow.audit.find(query), org_id=org_id)  # noqa: B023
        for event in page:
            if event.occurred_at >= cutoff:
                return
            yield event
        if len(page) < WALK_PAGE:
            return
        seq = page[-1].seq or seq


def _objects(events: Iterable[AuditEvent], per_object: int) -> Iterator[list[AuditEvent]]:
    """Consecutive events of one UTC day, at most `per_object` of them."""
    batch: list[AuditEvent] = []
    for event in events:
        if batch and (len(batch) >= per_object or day_of(event) != day_of(batch[0])):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


def _write_object(archive: Archive, events: list[AuditEvent]) -> tuple[ObjectEntry, bool]:
    data = object_bytes(events)
    entry = entry_for(events, data)
    try:
        return entry, archive.put_if_absent(entry.key, data)
    except ObjectDiffers:
        existing = archive.get(entry.key)
        if existing is None or _events_or_none(existing) != events:
            raise
    # The same events in other bytes (another zlib compressed them): the stored bytes stay.
    return replace(entry, sha256=sha256_hex(existing)), False


def _events_or_none(data: bytes) -> list[AuditEvent] | None:
    try:
        return events_of(data)
    except MalformedObject:
        return None


# --- steps 3 and 4: the digest, then the marks ---------------------------------------------


def _write_digest(
    tenantry: Tenantry,
    archive: Archive,
    latest: StoredDigest | None,
    entries: tuple[ObjectEntry, ...],
) -> int:
    digest = Digest(
        number=latest.digest.number + 1 if latest else 1,
        previous_digest_sha256=sha256_hex(latest.data) if latest else None,
        created_at=timestamp(tenantry.clock.now()),
        objects=entries,
    )
    key, private_key = _signing_key(tenantry)
    archive.put_if_absent(digest_key(digest.number), signed_digest(digest, key, private_key))
    _apply(tenantry, _moves(tenantry, digest), _archive_event(archive, digest, recovered=False))
    return digest.number


def _signing_key(tenantry: Tenantry) -> tuple[SigningKey, PrivateKey]:
    # The key access tokens are signed with now: the newest CURRENT one, as the signer picks.
    keys = _as_operator(tenantry, lambda uow: uow.signing_keys.list())
    current = [key for key in keys if key.state == KeyState.CURRENT and key.alg in SIGNING_ALGS]
    if not current:
        raise Unavailable(
            "there is no current signing key (run `tenantry keys init`)", code="no_signing_key"
        )
    key = max(current, key=lambda key: (key.created_at, key.kid))
    return key, load_private_key(key, tenantry.key_factory.cipher)


def verification_keys(tenantry: Tenantry) -> dict[str, SigningKey]:
    """Every key tenantry has signed with (current, next, retired), by kid: an archive's
    digests outlive the keys' time in the JWKS."""
    keys = _as_operator(tenantry, lambda uow: uow.signing_keys.list())
    return {key.kid: key for key in keys if key.alg in SIGNING_ALGS}


def _archive_event(archive: Archive, digest: Digest, *, recovered: bool) -> AuditDraft:
    return _system_event(
        "audit.archive",
        ARCHIVE_RESOURCE,
        digest_key(digest.number),
        {
            "archive": archive.url,
            "digest": digest.number,
            "objects": len(digest.objects),
            "events": sum(entry.events for entry in digest.objects),
            "recovered": recovered,
        },
    )


def _system_event(
    action: str, resource_type: str, resource_id: str, details: dict[str, object]
) -> AuditDraft:
    return AuditDraft(
        event_type=EventType.CONFIGURATION,
        action=action,
        outcome=Outcome.SUCCESS,
        actor_id=SYSTEM.user_id,
        actor_type=ActorType.SYSTEM,
        resource_type=resource_type,
        resource_id=resource_id,
        details=dict(details),
    )


def _record_failure(
    tenantry: Tenantry, archive: Archive, action: str, error: TenantryError
) -> None:
    if error.audit is not None:
        return  # a store failure, which the edge has recorded already
    error.audit = replace(
        _system_event(action, ARCHIVE_RESOURCE, archive.url, {"archive": archive.url}),
        outcome=Outcome.FAILURE,
        reason=error.code,
    )
    record_refusal(tenantry.store.unit_of_work, error, clock=tenantry.clock, request_id=None)


def _as_operator(
    tenantry: Tenantry,
    use_case: Callable[[UnitOfWork], T],
    *,
    org_id: str | None = None,
    label: str | None = None,
) -> T:
    def scoped(uow: UnitOfWork) -> T:
        if org_id is not None:
            uow.bind(org_id=org_id)  # row-level security shows one organisation's chain
        return use_case(uow)

    # app.user_id = 'system': the operator sees every chain's head and the system chain.
    return run_use_case(
        tenantry.store.unit_of_work,
        scoped,
        clock=tenantry.clock,
        user_id=SYSTEM.user_id,
        label=label,
    )


# --- checking an archive -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveBreak:
    """The first thing in an archive that does not hold. `problem` is a stable code
    (docs/audit-archive.md); the other fields say where, as far as it is known."""

    problem: str
    detail: str
    digest: int | None = None
    key: str | None = None
    chain_id: str | None = None
    seq: int | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    archive: str
    digests: int
    objects: int
    events: int
    entries: tuple[ObjectEntry, ...]  # the objects checked, in digest order
    broken: ArchiveBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_archive(
    tenantry: Tenantry, archive: Archive, *, chain_id: str | None = None
) -> ArchiveReport:
    """Check every digest (signed by a key tenantry knows, numbered 1, 2, ..., each holding
    the SHA-256 of the one before), every object they list (or those of one chain), that no
    object goes unlisted, and that each chain's archive ends where the database's mark says.
    Stops at the first break."""
    states = _as_operator(tenantry, lambda uow: uow.audit.chains())
    in_scope = {s.head.chain_id: s for s in states if chain_id in (None, s.head.chain_id)}
    check = _ArchiveCheck(archive, verification_keys(tenantry), in_scope, chain_id)
    try:
        check.digests()
        check.nothing_unlisted()
        for state in in_scope.values():
            check.mark(state, _event_at(tenantry, state.org_id, state.archived.seq))
        check.no_chain_unknown()
    except _Broken as broken:
        return check.report(broken.found)
    return check.report(None)


class _Broken(Exception):
    def __init__(self, found: ArchiveBreak) -> None:
        super().__init__(found.detail)
        self.found = found


Where = dict[str, str | int | None]


def _broken(problem: str, detail: str, where: Where) -> _Broken:
    return _Broken(ArchiveBreak(problem, detail, **where))  # type: ignore[arg-type]


class _ArchiveCheck:
    """The walk through an archive: digests in order, each one's objects in order."""

    def __init__(
        self,
        archive: Archive,
        keys: Mapping[str, SigningKey],
        states: dict[str, ChainState],
        chain_id: str | None,
    ) -> None:
        self.archive, self.keys, self.states, self.chain_id = archive, keys, states, chain_id
        self.ends: dict[str, Anchor] = {}  # where each chain's archived events end
        self.entries: list[ObjectEntry] = []
        self.listed: set[str] = set()
        self.digests_read = self.events = 0

    def report(self, broken: ArchiveBreak | None) -> ArchiveReport:
        entries = tuple(self.entries)
        return ArchiveReport(
            self.archive.url, self.digests_read, len(entries), self.events, entries, broken
        )

    def digests(self) -> None:
        previous: bytes | None = None
        for number in self._digest_numbers():
            where: Where = {"digest": number, "key": digest_key(number)}
            data = self.archive.get(digest_key(number))
            if data is None:
                raise _broken("digest_missing", "the digest is gone", where)
            for entry in self._digest(data, previous, where).objects:
                if self.chain_id in (None, entry.chain_id):
                    self._object(entry, {**where, "key": entry.key, "chain_id": entry.chain_id})
            previous, self.digests_read = data, self.digests_read + 1

    def _digest_numbers(self) -> list[int]:
        numbers = []
        for key in self.archive.list(DIGESTS):
            number = digest_number(key)
            if number is None:
                raise _broken("unlisted_object", "not the name of a digest", {"key": key})
            numbers.append(number)
        for expected, number in enumerate(sorted(numbers), start=1):
            if number != expected:
                where: Where = {"digest": expected, "key": digest_key(expected)}
                raise _broken("digest_missing", f"digest {number} follows {expected - 1}", where)
        return sorted(numbers)

    def _digest(self, data: bytes, previous: bytes | None, where: Where) -> Digest:
        try:
            digest = read_digest(data, self.keys)
        except DigestRefused as refused:
            raise _broken(refused.problem, refused.detail, where) from None
        if digest.number != where["digest"]:
            raise _broken("digest_number_mismatch", f"it says it is {digest.number}", where)
        if digest.previous_digest_sha256 != (sha256_hex(previous) if previous else None):
            detail = "previous_digest_sha256 is not the SHA-256 of the digest before"
            raise _broken("digest_chain_broken", detail, where)
        return digest

    def _object(self, entry: ObjectEntry, where: Where) -> None:
        if entry.key in self.listed:
            raise _broken("duplicate_object", "an earlier entry lists it too", where)
        self.listed.add(entry.key)
        data = self.archive.get(entry.key)
        if data is None:
            raise _broken("object_missing", "a digest lists it; the archive has not", where)
        if sha256_hex(data) != entry.sha256:
            raise _broken("object_sha256_mismatch", "its SHA-256 is not its digest's", where)
        try:
            events = events_of(data)
        except MalformedObject as malformed:
            raise _broken("object_unreadable", str(malformed), where) from None
        self._events(entry, events, where)

    def _events(self, entry: ObjectEntry, events: list[AuditEvent], where: Where) -> None:
        anchor = self.ends.get(entry.chain_id, NO_ANCHOR)
        broken, _ = first_break(entry.chain_id, events, anchor=anchor, head=None)
        if broken is not None:
            at = {**where, "seq": broken.seq, "event_id": broken.event_id}
            raise _broken(broken.problem, broken.detail, at)
        if not _as_listed(entry, events):
            detail = "its events are not the ones its digest lists (seqs, hashes, count, day)"
            raise _broken("object_summary_mismatch", detail, where)
        self._start_in(entry, events, where)
        self.ends[entry.chain_id] = Anchor(entry.last_seq, entry.last_hash)
        self.entries.append(entry)
        self.events += len(events)

    def _start_in(self, entry: ObjectEntry, events: list[AuditEvent], where: Where) -> None:
        # A pruned chain starts after an archived event: this one, if it is in this object.
        state = self.states.get(entry.chain_id)
        if state is None or not entry.first_seq <= state.start.seq <= entry.last_seq:
            return
        event = events[state.start.seq - entry.first_seq]
        if event.hash != state.start.hash:
            detail = "the database's chain starts after another event than the archive holds"
            at = {**where, "seq": event.seq, "event_id": event.event_id}
            raise _broken("start_mismatch", detail, at)

    def nothing_unlisted(self) -> None:
        for prefix in self._object_prefixes():
            for key in self.archive.list(prefix):
                if key not in self.listed:
                    detail = "no digest lists it: a run stopped before its digest, or it was put"
                    raise _broken("unlisted_object", detail, {"key": key})

    def _object_prefixes(self) -> tuple[str, ...]:
        if self.chain_id is None:
            return EVENT_PREFIXES
        if self.chain_id == SYSTEM_CHAIN:
            return (f"{SYSTEM_CHAIN}/",)
        return (f"orgs/{self.chain_id}/",)

    def mark(self, state: ChainState, at_mark: AuditEvent | None) -> None:
        """The database's mark is where the archive ends, and names the event stored there
        (or, when pruned up to it, the one the stored chain starts after)."""
        mark, start = state.archived, state.start
        where: Where = {"chain_id": state.head.chain_id, "seq": mark.seq}
        end = self.ends.get(state.head.chain_id, NO_ANCHOR)
        if end != mark:
            detail = f"the database's mark is seq {mark.seq}; the archive ends at seq {end.seq}"
            raise _broken("mark_mismatch", detail, where)
        if mark.seq <= start.seq and start != mark:
            detail = f"the database is pruned through seq {start.seq}, past its mark"
            raise _broken("start_mismatch", detail, where)
        if mark.seq > start.seq and (at_mark is None or at_mark.hash != mark.hash):
            detail = "the database's event at its mark is not the archive's last"
            at = {**where, "event_id": at_mark.event_id if at_mark else None}
            raise _broken("db_event_mismatch", detail, at)

    def no_chain_unknown(self) -> None:
        for chain_id, end in self.ends.items():
            if chain_id not in self.states:
                where: Where = {"chain_id": chain_id, "seq": end.seq}
                raise _broken("mark_mismatch", "the database has no such chain", where)


def _as_listed(entry: ObjectEntry, events: list[AuditEvent]) -> bool:
    if not events:
        return False
    first, last = events[0], events[-1]
    return (
        (first.seq, first.prev_hash, last.seq, last.hash, len(events))
        == (entry.first_seq, entry.first_prev_hash, entry.last_seq, entry.last_hash, entry.events)
        and entry.chain_id == chain_of(entry.org_id)
        and entry.key == object_key(entry.org_id, entry.day, entry.first_seq, entry.last_seq)
        and all(event.org_id == entry.org_id and day_of(event) == entry.day for event in events)
    )


def _event_at(tenantry: Tenantry, org_id: str | None, seq: int) -> AuditEvent | None:
    if seq == 0:
        return None
    query = AuditQuery(org_id=org_id, after_seq=seq - 1, limit=1)
    found = _as_operator(tenantry, lambda uow: uow.audit.find(query), org_id=org_id)
    return found[0] if found and found[0].seq == seq else None


# --- pruning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pruned:
    chain_id: str
    org_id: str | None
    through: Anchor  # the chain now starts after this archived event
    before_day: date


def prune_archived(tenantry: Tenantry, archive: Archive, *, after_days: int) -> list[Pruned]:
    """Delete each chain's archived events of the days before today less `after_days`,
    once the whole archive and every stored chain verify (Conflict `archive_broken` or
    `audit_chain_broken` otherwise, and nothing is deleted). Only whole archived objects are
    pruned, through an object's last event: the chain then starts after it."""
    try:
        return _prune(tenantry, archive, after_days)
    except TenantryError as error:
        _record_failure(tenantry, archive, "audit.prune", error)
        raise


def _prune(tenantry: Tenantry, archive: Archive, after_days: int) -> list[Pruned]:
    report = verify_archive(tenantry, archive)
    if report.broken is not None:
        raise Conflict(
            f"the archive does not verify ({report.broken.problem}: {report.broken.detail}); "
            "nothing was pruned",
            code="archive_broken",
        )
    states = _stored_chains_verified(tenantry)
    before = tenantry.clock.now().astimezone(UTC).date() - timedelta(days=after_days)
    pruned = []
    ordered = sorted(report.entries, key=lambda entry: (entry.chain_id, entry.first_seq))
    for chain_id, listed in groupby(ordered, key=lambda entry: entry.chain_id):
        # Days in seq order, up to the first that is not old enough: an object of a later
        # day between old ones (a clock that ran ahead) keeps every event after it.
        old = list(takewhile(lambda entry: entry.day < before.isoformat(), listed))
        state = states[chain_id]
        if old and old[-1].last_seq > state.start.seq:
            through = Anchor(old[-1].last_seq, old[-1].last_hash)
            pruned.append(Pruned(chain_id, state.org_id, through, before))
            pruning = _pruning(tenantry, archive, pruned[-1])
            _as_operator(tenantry, pruning, org_id=state.org_id, label="audit.prune")
    return pruned


def _stored_chains_verified(tenantry: Tenantry) -> dict[str, ChainState]:
    # Pruning would delete the evidence of an edited row: every stored chain must hold first.
    states = _as_operator(tenantry, lambda uow: uow.audit.chains())
    for state in states:
        report = _as_operator(
            tenantry,
            lambda uow: verify_chain(uow, state.org_id),  # noqa: B023
            org_id=state.org_id,
        )
        if report.broken is not None:
            raise Conflict(
                f"chain {report.chain_id} breaks at seq {report.broken.seq} "
                f"({report.broken.problem}); nothing was pruned",
                code="audit_chain_broken",
            )
    return {state.head.chain_id: state for state in states}


def _pruning(tenantry: Tenantry, archive: Archive, pruned: Pruned) -> Callable[[UnitOfWork], None]:
    event = _system_event(
        "audit.prune",
        CHAIN_RESOURCE,
        pruned.chain_id,
        {
            "archive": archive.url,
            "org_id": pruned.org_id,
            "through_seq": pruned.through.seq,
            "before_day": pruned.before_day.isoformat(),
        },
    )

    def prune(uow: UnitOfWork) -> None:
        uow.audit.prune(pruned.org_id, through=pruned.through)
        uow.audit.append(event, at=tenantry.clock.now())

    return prune
