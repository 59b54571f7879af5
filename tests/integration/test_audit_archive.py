"""The audit archive in a folder, on SQLite and PostgreSQL.

Events are made through the HTTP API over three days of a clock the test moves; the operator
then runs `tenantry audit archive` and `tenantry audit verify --from` (the CLI, building its
own tenantry from the environment as a fresh process would) or the service functions. The
tests look at what the archive holds, the marks in the database and the audit trail, and
tamper with the archive and the database to see each change caught with its place named.
"""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.archive import (
    DIGEST_TYPE,
    Digest,
    digest_key,
    object_bytes,
    open_archive,
    read_digest,
    sha256_hex,
    signed_digest,
)
from tenantry.archive.files import FolderArchive
from tenantry.audit.archive import (
    ArchiveRun,
    archive_audit,
    prune_archived,
    verification_keys,
    verify_archive,
)
from tenantry.audit.ports import ChainState
from tenantry.bootstrap import Tenantry
from tenantry.domain.audit import ActorType, AuditEvent, Outcome
from tenantry.domain.audit_chain import SYSTEM_CHAIN, Anchor
from tenantry.domain.model import KeyState
from tenantry.store.sql.migrate import migrate
from tenantry.tokens.keys import load_private_key
from tests.access_builders import made_role
from tests.conftest import STORES
from tests.harness import (
    Account,
    Api,
    StoreTarget,
    TestClock,
    audit_events,
    copy_sqlite,
    postgres_target,
    privileged,
)
from tests.integration.test_cli import Cli, _logging_restored, environment
from tests.postgres_server import PgUrls, tenantry_database

__all__ = ["_logging_restored", "environment"]  # fixtures shared with test_cli

START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
DAY_1, DAY_2, DAY_3, DAY_4 = (date(2025, 3, day) for day in (10, 11, 12, 13))


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> TestClock:
    return TestClock(START)


@pytest.fixture(scope="session")
def archive_template(postgres_admin_url: str) -> Iterator[PgUrls]:
    """A migrated database that each PostgreSQL test gets a copy of."""
    with tenantry_database(postgres_admin_url) as urls:
        migrate(urls.owner_url, runtime_url=urls.runtime_url)
        yield urls


@contextmanager
def database_copy(template: PgUrls) -> Iterator[PgUrls]:
    """A copy of `template` (same roles, same grants), dropped afterwards."""
    name = f"{template.database}_{secrets.token_hex(4)}"
    copy = f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'
    _as_admin(template, f'{copy} OWNER "{template.owner_role}"')
    try:
        yield replace(
            template,
            owner_url=_in_database(template.owner_url, name),
            runtime_url=_in_database(template.runtime_url, name),
            database=name,
        )
    finally:
        _as_admin(template, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_admin(template: PgUrls, statement: str) -> None:
    engine = sa.create_engine(template.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as admin:
            admin.execute(sa.text(statement))
    finally:
        engine.dispose()


def _in_database(url: str, database: str) -> str:
    return sa.make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(params=STORES)
def store_target(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[StoreTarget]:
    """As the suite's, but PostgreSQL gets a database of its own: a run archives every chain
    of the database, and the marks it moves are that database's."""
    if request.param == "sqlite":
        url = copy_sqlite(sqlite_template, tmp_path / "tenantry.db")
        yield StoreTarget("sqlite", url, url)
        return
    with database_copy(request.getfixturevalue("archive_template")) as urls:
        yield postgres_target(urls)


@pytest.fixture
def cli(
    store_target: StoreTarget,
    tenantry: Tenantry,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """The CLI on the test's store, with the secret that encrypts the test's signing keys."""
    secret = tenantry.settings.secret_key
    assert secret is not None
    monkeypatch.setenv("TENANTRY_DATABASE_URL", store_target.url)
    monkeypatch.setenv("TENANTRY_SECRET_KEY", secret.get_secret_value())
    return Cli(store_target.url, environment / "mail")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def url(folder: Path) -> str:
    return folder.as_uri()


@dataclass(frozen=True)
class World:
    """Two organisations with events on three days; the system chain has some too."""

    org_id: str
    other_org_id: str
    owner: Account


@pytest.fixture
def world(api: Api, clock: TestClock) -> World:
    owner, org = api.owner_with_org()
    _, other = api.owner_with_org()
    for day, role in ((DAY_2, "Editors"), (DAY_3, "Viewers")):
        clock.advance(days=1)
        assert clock.now().date() == day
        owner = api.switch_org(owner, org["id"])  # yesterday's access token has expired
        made_role(api, owner, role, ["site:publish"])
    return World(org["id"], other["id"], owner)


# --- helpers -----------------------------------------------------------------------------------


def archived(cli: Cli, url: str, until: date, *more: str) -> dict[str, Any]:
    result = cli("audit", "archive", "--to", url, "--until", until.isoformat(), *more, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def verified(cli: Cli, url: str, *more: str) -> dict[str, Any]:
    result = cli("audit", "verify", "--from", url, *more, "--json")
    document: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == (0 if document["ok"] else 1), (result.stdout, result.stderr)
    return document


def first_break(cli: Cli, url: str) -> dict[str, Any]:
    document = verified(cli, url)
    assert document["ok"] is False, document
    found: dict[str, Any] = document["first_break"]
    return found


def stored_events(target: StoreTarget, org_id: str | None) -> list[AuditEvent]:
    return audit_events(target, org_id=org_id)


def chain_state(tenantry: Tenantry, org_id: str | None) -> ChainState:
    with tenantry.store.unit_of_work(user_id="system") as uow:
        if org_id is not None:
            uow.bind(org_id=org_id)
        state = uow.audit.chain(org_id)
    assert state is not None
    return state


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def days_before(events: list[AuditEvent], until: date) -> dict[str, list[AuditEvent]]:
    """The events of each whole UTC day before `until`, as the layout promises them."""
    by_day: dict[str, list[AuditEvent]] = {}
    for event in events:
        if event.occurred_at.date() < until:
            by_day.setdefault(event.occurred_at.date().isoformat(), []).append(event)
    return by_day


def org_objects(folder: Path, org_id: str) -> list[str]:
    return sorted(key for key in files_of(folder) if key.startswith(f"orgs/{org_id}/"))


def service_run(tenantry: Tenantry, url: str, until: date, **options: Any) -> ArchiveRun:
    return archive_audit(tenantry, open_archive(url, tenantry.settings), until=until, **options)


# --- archive, then verify --------------------------------------------------------------------


def test_a_run_archives_each_chain_a_day_an_object_and_verifies(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    events = stored_events(store_target, world.org_id)

    document = archived(cli, url, DAY_3)

    by_day = days_before(events, DAY_3)
    assert sorted(by_day) == [DAY_1.isoformat(), DAY_2.isoformat()]
    expected = [
        f"orgs/{world.org_id}/{day}/{group[0].seq:012d}-{group[-1].seq:012d}.jsonl.gz"
        for day, group in sorted(by_day.items())
    ]
    assert org_objects(folder, world.org_id) == expected
    assert (document["digest"], document["recovered_digest"], document["broken"]) == (1, None, [])
    assert {o["chain_id"] for o in document["objects"]} == {
        world.org_id,
        world.other_org_id,
        SYSTEM_CHAIN,
    }
    assert sorted(files_of(folder)) == sorted(
        [*(o["key"] for o in document["objects"]), digest_key(1)]
    )
    # The day's lines are the stored events, in seq order, as an export shows them.
    day_one = gzip.decompress((folder / expected[0]).read_bytes()).decode().splitlines()
    assert [json.loads(line)["event_id"] for line in day_one] == [
        e.event_id for e in by_day[DAY_1.isoformat()]
    ]
    last = by_day[DAY_2.isoformat()][-1]
    assert chain_state(tenantry, world.org_id).archived == Anchor(last.seq or 0, last.hash or "")

    report = verified(cli, url)

    assert report["ok"] is True, report
    assert (report["digests"], report["objects"]) == (1, len(document["objects"]))
    assert report["events"] == document["events"]


def test_the_run_is_audited_in_the_system_chain(
    cli: Cli, store_target: StoreTarget, world: World, url: str
) -> None:
    document = archived(cli, url, DAY_3)

    [event] = audit_events(store_target, org_id=None, action="audit.archive")
    assert (event.outcome, event.actor_type, event.actor_id) == (
        Outcome.SUCCESS,
        ActorType.SYSTEM,
        "system",
    )
    assert (event.resource_type, event.resource_id) == ("audit_archive", digest_key(1))
    assert event.details == {
        "archive": url,
        "digest": 1,
        "objects": len(document["objects"]),
        "events": document["events"],
        "recovered": False,
    }


def test_a_rerun_writes_nothing_new_and_duplicates_nothing(
    cli: Cli, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_3)
    before = files_of(folder)

    again = archived(cli, url, DAY_3)

    assert (again["digest"], again["objects"], again["written"]) == (None, [], 0)
    assert files_of(folder) == before
    assert len(audit_events(store_target, org_id=None, action="audit.archive")) == 1
    assert verified(cli, url)["ok"] is True


def test_the_next_run_takes_the_next_day_and_chains_its_digest_to_the_last(
    tenantry: Tenantry,
    store_target: StoreTarget,
    clock: TestClock,
    world: World,
    folder: Path,
    url: str,
) -> None:
    first = service_run(tenantry, url, DAY_3)
    clock.advance(days=1)
    second = service_run(tenantry, url, DAY_4)

    keys = verification_keys(tenantry)
    one, two = (read_digest((folder / digest_key(n)).read_bytes(), keys) for n in (1, 2))
    assert (first.digest, second.digest) == (1, 2)
    assert two.previous_digest_sha256 == sha256_hex((folder / digest_key(1)).read_bytes())
    assert one.previous_digest_sha256 is None
    assert {e.day for e in two.objects if e.chain_id == world.org_id} == {DAY_3.isoformat()}
    days = days_before(stored_events(store_target, world.org_id), DAY_4)
    assert chain_state(tenantry, world.org_id).archived.seq == days[DAY_3.isoformat()][-1].seq
    assert verify_archive(tenantry, FolderArchive(folder)).ok


def test_a_busy_day_takes_several_objects_and_still_verifies(
    tenantry: Tenantry, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    run = service_run(tenantry, url, DAY_3, events_per_object=2)

    mine = [entry for entry in run.objects if entry.chain_id == world.org_id]
    assert all(entry.events <= 2 for entry in mine)
    assert [entry.first_seq for entry in mine] == [1, *(e.last_seq + 1 for e in mine[:-1])]
    report = verify_archive(tenantry, FolderArchive(folder))
    assert (report.ok, report.objects) == (True, len(run.objects))


def test_the_default_archive_is_the_folder_tenantry_archive(
    cli: Cli, world: World, environment: Path
) -> None:
    result = cli("audit", "archive", "--until", DAY_2.isoformat(), "--json")

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["archive"] == (environment / "tenantry-archive").as_uri()
    assert (environment / "tenantry-archive" / digest_key(1)).is_file()


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["--to", "ftp://example.com/audit"], "invalid_archive_url"),
        (["--to", "file://relative/dir"], "invalid_archive_url"),
        (["--to", "s3://Not_A_Bucket/x"], "invalid_archive_url"),
        (["--until", "2999-01-01"], "archive_day_incomplete"),
    ],
)
def test_an_unusable_destination_or_a_day_not_over_is_refused_with_its_code(
    cli: Cli, world: World, arguments: list[str], code: str
) -> None:
    result = cli("audit", "archive", *arguments)

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert f"error {code}:" in result.stderr
    assert "Traceback" not in result.output


# --- tampering with the archive ----------------------------------------------------------------

Tamper = Callable[[Path, str], None]


def flip_a_byte(folder: Path, key: str) -> None:
    data = bytearray((folder / key).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / key).write_bytes(bytes(data))


def delete(folder: Path, key: str) -> None:
    (folder / key).unlink()


def reorder_lines(folder: Path, key: str) -> None:
    lines = gzip.decompress((folder / key).read_bytes()).splitlines(keepends=True)
    assert len(lines) > 1
    (folder / key).write_bytes(gzip.compress(b"".join([lines[1], lines[0], *lines[2:]]), mtime=0))


def truncate(folder: Path, key: str) -> None:
    data = (folder / key).read_bytes()
    (folder / key).write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (flip_a_byte, "object_sha256_mismatch"),
        (delete, "object_missing"),
        (reorder_lines, "object_sha256_mismatch"),
        (truncate, "object_sha256_mismatch"),
    ],
)
def test_a_changed_object_is_caught_and_named(
    cli: Cli, world: World, folder: Path, url: str, tamper: Tamper, problem: str
) -> None:
    archived(cli, url, DAY_3)
    key = org_objects(folder, world.org_id)[0]

    tamper(folder, key)

    found = first_break(cli, url)
    assert (found["problem"], found["digest"], found["key"]) == (problem, 1, key)
    assert found["chain_id"] == world.org_id


def resigned(folder: Path, number: int, kid: str) -> None:
    """The digest's payload as it was, signed again with a key tenantry never had."""
    token = (folder / digest_key(number)).read_text()
    payload = jwt.utils.base64url_decode(token.split(".")[1])
    forged = jwt.api_jws.encode(
        payload,
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": kid, "typ": DIGEST_TYPE},
    )
    (folder / digest_key(number)).write_text(forged)


def test_a_digest_signed_again_with_another_key_is_caught(
    cli: Cli, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_3)

    resigned(folder, 1, kid="key_not_one_of_ours")

    found = first_break(cli, url)
    assert (found["problem"], found["digest"], found["key"]) == ("unknown_key", 1, digest_key(1))


def test_a_digest_signed_again_under_our_key_id_fails_its_signature(
    cli: Cli, tenantry: Tenantry, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_3)
    [kid] = [key.kid for key in verification_keys(tenantry).values() if key.state == "current"]

    resigned(folder, 1, kid=kid)

    found = first_break(cli, url)
    assert (found["problem"], found["digest"]) == ("bad_signature", 1)


def test_an_edited_event_is_caught_even_when_the_digest_is_signed_again_with_our_own_key(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    # An insider who can sign: the object's SHA-256 and its digest agree, its events do not.
    archived(cli, url, DAY_3)
    key = org_objects(folder, world.org_id)[0]
    events = [e for e in stored_events(store_target, world.org_id) if e.occurred_at.date() == DAY_1]
    edited = [events[0], AuditEvent(**{**_fields(events[1]), "actor_id": "usr_someone_else"})]
    data = object_bytes([*edited, *events[2:]])
    (folder / key).write_bytes(data)
    keys = verification_keys(tenantry)
    digest = read_digest((folder / digest_key(1)).read_bytes(), keys)
    objects = tuple(
        replace(entry, sha256=sha256_hex(data)) if entry.key == key else entry
        for entry in digest.objects
    )
    current = next(k for k in keys.values() if k.state == KeyState.CURRENT)
    signing = load_private_key(current, tenantry.key_factory.cipher)
    forged = signed_digest(Digest(1, None, digest.created_at, objects), current, signing)
    (folder / digest_key(1)).write_bytes(forged)

    found = first_break(cli, url)

    assert (found["problem"], found["key"]) == ("hash_mismatch", key)
    assert (found["seq"], found["event_id"]) == (events[1].seq, events[1].event_id)


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in AuditEvent.__dataclass_fields__}


def test_a_missing_digest_and_an_object_no_digest_lists_are_caught(
    cli: Cli, clock: TestClock, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_2)
    archived(cli, url, DAY_3)
    (folder / "orgs" / world.org_id / "2025-03-09").mkdir(parents=True)
    planted = f"orgs/{world.org_id}/2025-03-09/000000000001-000000000001.jsonl.gz"
    (folder / planted).write_bytes(gzip.compress(b"{}\n"))

    found = first_break(cli, url)
    assert (found["problem"], found["key"]) == ("unlisted_object", planted)

    (folder / planted).unlink()
    delete(folder, digest_key(1))
    found = first_break(cli, url)
    assert (found["problem"], found["digest"]) == ("digest_missing", 1)


def test_the_newest_digest_deleted_leaves_its_objects_unlisted(
    cli: Cli, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_2)
    second = archived(cli, url, DAY_3)

    delete(folder, digest_key(2))

    found = first_break(cli, url)
    assert found["problem"] == "unlisted_object"
    assert found["key"] in {o["key"] for o in second["objects"]}


def test_no_run_chains_its_digest_to_one_that_does_not_verify(
    cli: Cli, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_2)
    resigned(folder, 1, kid="key_not_one_of_ours")

    result = cli("audit", "archive", "--to", url, "--until", DAY_3.isoformat())

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "error archive_broken:" in result.stderr
    assert not (folder / digest_key(2)).exists()
    [failure] = audit_events(store_target, org_id=None, outcome=Outcome.FAILURE)
    assert (failure.action, failure.reason) == ("audit.archive", "archive_broken")


# --- the archive against the database ----------------------------------------------------------


def test_a_mark_moved_in_the_database_is_caught(
    cli: Cli, store_target: StoreTarget, world: World, url: str
) -> None:
    archived(cli, url, DAY_3)
    with privileged(store_target) as db:
        db.execute(
            sa.text("UPDATE audit_chains SET archived_seq = archived_seq - 1 WHERE chain_id = :c"),
            {"c": world.org_id},
        )
        db.commit()

    found = first_break(cli, url)

    assert (found["problem"], found["chain_id"]) == ("mark_mismatch", world.org_id)


def test_an_edited_event_at_the_mark_is_caught(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, url: str
) -> None:
    archived(cli, url, DAY_3)
    mark = chain_state(tenantry, world.org_id).archived
    with privileged(store_target) as db:
        db.execute(
            sa.text("UPDATE audit_events SET hash = :h WHERE org_id = :o AND seq = :s"),
            {"h": "f" * 64, "o": world.org_id, "s": mark.seq},
        )
        db.commit()

    found = first_break(cli, url)

    assert (found["problem"], found["chain_id"], found["seq"]) == (
        "db_event_mismatch",
        world.org_id,
        mark.seq,
    )


def test_a_chain_broken_in_the_database_is_archived_up_to_the_break(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, url: str
) -> None:
    day_two = [
        e for e in stored_events(store_target, world.org_id) if e.occurred_at.date() == DAY_2
    ]
    assert len(day_two) > 1
    edited = day_two[-1]
    with privileged(store_target) as db:
        db.execute(
            sa.text("UPDATE audit_events SET action = 'role.nothing' WHERE event_id = :e"),
            {"e": edited.event_id},
        )
        db.commit()

    result = cli("audit", "archive", "--to", url, "--until", DAY_3.isoformat(), "--json")

    assert result.exit_code == 1, (result.stdout, result.stderr)
    document = json.loads(result.stdout)
    [broken] = document["broken"]
    assert (broken["chain_id"], broken["problem"], broken["seq"], broken["event_id"]) == (
        world.org_id,
        "hash_mismatch",
        edited.seq,
        edited.event_id,
    )
    mine = [o for o in document["objects"] if o["chain_id"] == world.org_id]
    assert [(o["day"], o["last_seq"]) for o in mine][-1] == (DAY_2.isoformat(), day_two[-2].seq)
    assert chain_state(tenantry, world.org_id).archived.seq == day_two[-2].seq
    assert chain_state(tenantry, world.other_org_id).archived.seq > 0  # the others go on
    assert verified(cli, url)["ok"] is True


# --- a run that stops between its digest and its marks -----------------------------------------


def refuse_marks(target: StoreTarget, chain_id: str) -> None:
    """The database refuses to move one chain's mark, as a crash before that commit would."""
    with privileged(target) as db:
        if target.name == "sqlite":
            db.execute(
                sa.text(
                    "CREATE TRIGGER refuse_marks BEFORE UPDATE OF archived_seq ON audit_chains"
                    f" WHEN NEW.chain_id = '{chain_id}'"
                    " BEGIN SELECT RAISE(ABORT, 'marks refused by the test'); END"
                )
            )
        else:
            db.execute(
                sa.text(
                    "CREATE FUNCTION refuse_marks() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'marks refused by the test'; END $$"
                )
            )
            db.execute(
                sa.text(
                    "CREATE TRIGGER refuse_marks BEFORE UPDATE OF archived_seq ON audit_chains"
                    f" FOR EACH ROW WHEN (NEW.chain_id = '{chain_id}')"
                    " EXECUTE FUNCTION refuse_marks()"
                )
            )
        db.commit()


def allow_marks(target: StoreTarget) -> None:
    with privileged(target) as db:
        db.execute(
            sa.text(
                "DROP TRIGGER refuse_marks"
                + ("" if target.name == "sqlite" else " ON audit_chains")
            )
        )
        db.commit()


def test_a_run_stopped_after_its_digest_is_completed_by_the_next_from_that_digest(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    refuse_marks(store_target, SYSTEM_CHAIN)  # the last chain whose mark moves

    failed = cli("audit", "archive", "--to", url, "--until", DAY_3.isoformat())

    assert failed.exit_code == 1, (failed.stdout, failed.stderr)
    assert failed.stderr.startswith("error ")  # the store's refusal, as a crash would leave
    assert (folder / digest_key(1)).is_file()
    assert chain_state(tenantry, None).archived.seq == 0
    assert chain_state(tenantry, world.org_id).archived.seq > 0  # moved before the failure
    assert first_break(cli, url)["problem"] == "mark_mismatch"
    assert successes(store_target, "audit.archive") == []
    allow_marks(store_target)

    again = archived(cli, url, DAY_3)

    assert (again["recovered_digest"], again["digest"]) == (1, None)
    assert [key for key in files_of(folder) if key.startswith("digests/")] == [digest_key(1)]
    assert chain_state(tenantry, None).archived.seq > 0
    assert verified(cli, url)["ok"] is True
    [event] = successes(store_target, "audit.archive")
    assert (event.details["digest"], event.details["recovered"]) == (1, True)


def successes(target: StoreTarget, action: str) -> list[AuditEvent]:
    return audit_events(target, org_id=None, action=action, outcome=Outcome.SUCCESS)


# --- pruning -----------------------------------------------------------------------------------


def test_prune_deletes_only_archived_events_and_both_verifies_still_pass(
    cli: Cli, tenantry: Tenantry, store_target: StoreTarget, world: World, url: str
) -> None:
    before = stored_events(store_target, world.org_id)

    document = archived(cli, url, DAY_3, "--prune-after-days", "1")

    mark = chain_state(tenantry, world.org_id).archived
    [pruned] = [p for p in document["pruned"] if p["chain_id"] == world.org_id]
    assert pruned["through_seq"] == mark.seq  # every archived day is more than a day old
    left = stored_events(store_target, world.org_id)
    assert left == [e for e in before if (e.seq or 0) > mark.seq]
    assert {e.occurred_at.date() for e in left} == {DAY_3}  # not archived: kept
    assert chain_state(tenantry, world.org_id).start == mark
    stored = cli("audit", "verify", "--org", world.org_id, "--json")
    assert stored.exit_code == 0, (stored.stdout, stored.stderr)
    [chain] = json.loads(stored.stdout)["chains"]
    assert (chain["ok"], chain["start_seq"]) == (True, mark.seq)
    assert verified(cli, url)["ok"] is True
    prunes = audit_events(store_target, org_id=None, action="audit.prune")
    assert {e.resource_id for e in prunes} == {p["chain_id"] for p in document["pruned"]}
    [mine] = [e for e in prunes if e.resource_id == world.org_id]
    assert (mine.details["through_seq"], mine.actor_type) == (mark.seq, ActorType.SYSTEM)


def test_prune_deletes_nothing_while_the_archive_does_not_verify(
    cli: Cli, store_target: StoreTarget, world: World, folder: Path, url: str
) -> None:
    archived(cli, url, DAY_3)
    before = stored_events(store_target, world.org_id)
    flip_a_byte(folder, org_objects(folder, world.org_id)[0])

    until = DAY_3.isoformat()
    result = cli("audit", "archive", "--to", url, "--until", until, "--prune-after-days", "1")

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "error archive_broken:" in result.stderr
    assert stored_events(store_target, world.org_id) == before
    [failure] = audit_events(store_target, org_id=None, action="audit.prune")
    assert (failure.outcome, failure.reason) == (Outcome.FAILURE, "archive_broken")


def test_prune_keeps_the_days_younger_than_asked(
    tenantry: Tenantry, store_target: StoreTarget, clock: TestClock, world: World, url: str
) -> None:
    service_run(tenantry, url, DAY_3)
    clock.advance(days=1)  # DAY_4: DAY_1 is older than two days, DAY_2 is not

    pruned = prune_archived(tenantry, open_archive(url, tenantry.settings), after_days=2)

    [mine] = [p for p in pruned if p.chain_id == world.org_id]
    left = stored_events(store_target, world.org_id)
    assert {e.occurred_at.date() for e in left} == {DAY_2, DAY_3}
    assert mine.before_day == DAY_2
    assert mine.through.seq == (left[0].seq or 0) - 1
    assert verify_archive(tenantry, open_archive(url, tenantry.settings)).ok


def test_a_clock_that_ran_ahead_holds_the_rest_of_its_chain_back_and_nothing_is_skipped(
    api: Api, tenantry: Tenantry, store_target: StoreTarget, clock: TestClock, url: str
) -> None:
    owner, org = api.owner_with_org()  # DAY_1
    clock.advance(days=2)  # a node whose clock is two days ahead: DAY_3
    owner = api.switch_org(owner, org["id"])
    made_role(api, owner, "Ahead", ["site:publish"])
    clock.advance(days=-2)  # and the right time again: DAY_1
    owner = api.switch_org(owner, org["id"])
    made_role(api, owner, "Behind", ["site:publish"])
    stored = stored_events(store_target, org["id"])
    ahead = next(e for e in stored if e.occurred_at.date() == DAY_3)
    clock.advance(days=3)  # DAY_4

    run = service_run(tenantry, url, DAY_3)
    pruned = prune_archived(tenantry, open_archive(url, tenantry.settings), after_days=0)

    assert run.broken == ()  # a time out of order is no break in the chain
    # Archived: the events before the one stamped DAY_3, not the DAY_1 ones after it.
    assert chain_state(tenantry, org["id"]).archived.seq == (ahead.seq or 0) - 1
    [mine] = [p for p in pruned if p.chain_id == org["id"]]
    assert mine.through.seq == (ahead.seq or 0) - 1
    left = stored_events(store_target, org["id"])
    assert [e.seq for e in left] == [e.seq for e in stored if (e.seq or 0) >= (ahead.seq or 0)]
    assert any(e.occurred_at.date() == DAY_1 for e in left)  # the late DAY_1 events stay
    assert verify_archive(tenantry, open_archive(url, tenantry.settings)).ok


def test_a_digest_verifies_by_hand_with_a_key_from_the_published_jwks(
    api: Api, tenantry: Tenantry, world: World, folder: Path, url: str
) -> None:
    # What an auditor without tenantry does: the JWS header names the key, the JWKS has it.
    service_run(tenantry, url, DAY_3)
    token = (folder / digest_key(1)).read_text()
    published = api.client.get("/.well-known/jwks.json").json()["keys"]

    header = jwt.get_unverified_header(token)
    [jwk] = [key for key in published if key["kid"] == header["kid"]]
    claims = jwt.api_jws.decode(token, key=jwt.PyJWK(jwk), algorithms=[header["alg"]])

    digest = json.loads(claims)
    assert header["typ"] == DIGEST_TYPE
    assert digest["number"] == 1
    listed = {entry["key"]: entry["sha256"] for entry in digest["objects"]}
    assert listed, digest
    for key, sha256 in listed.items():
        assert sha256_hex((folder / key).read_bytes()) == sha256
