"""The audit archive on S3: moto in server mode on loopback, reached through a proxy that can
answer 503, stall past the read timeout or drop the connection on the requests a test
chooses. A run that fails loses nothing and moves no mark; the rerun completes, and the
archive verifies with no object twice. On SQLite and PostgreSQL, through the CLI.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tenantry.archive import digest_key, object_key
from tenantry.bootstrap import Tenantry
from tenantry.domain.audit_chain import SYSTEM_CHAIN
from tests.harness import StoreTarget
from tests.integration.test_audit_archive import (
    DAY_3,
    World,
    _logging_restored,
    archive_template,
    archived,
    chain_state,
    cli,
    clock,
    days_before,
    environment,
    first_break,
    store_target,
    stored_events,
    verified,
    world,
)
from tests.integration.test_cli import Cli
from tests.moto_server import TEST_CREDENTIALS
from tests.s3_server import FaultProxy, new_bucket, s3_client, s3_endpoint

__all__ = [  # fixtures shared with test_audit_archive
    "_logging_restored",
    "archive_template",
    "cli",
    "clock",
    "environment",
    "s3_endpoint",
    "store_target",
    "world",
]

ATTEMPTS = 3  # per S3 request: a fault this many times in a row fails the run
PREFIX = "audit/trail"


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    started = FaultProxy(s3_endpoint).start()
    yield started
    started.close()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint)


@pytest.fixture
def url(bucket: str, proxy: FaultProxy, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> str:
    """The archive's URL; the CLI reaches S3 through the proxy, with short timeouts."""
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TENANTRY_AUDIT_S3_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("TENANTRY_AUDIT_S3_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("TENANTRY_AUDIT_S3_READ_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("TENANTRY_AUDIT_S3_MAX_ATTEMPTS", str(ATTEMPTS))
    return f"s3://{bucket}/{PREFIX}"


def stored(s3_endpoint: str, bucket: str) -> dict[str, bytes]:
    """Every object under the prefix, read from S3 directly (not through the proxy)."""
    client = s3_client(s3_endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {
        key.removeprefix(f"{PREFIX}/"): client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in keys
    }


def put(s3_endpoint: str, bucket: str, key: str, data: bytes) -> None:
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=data)


def failed(cli: Cli, url: str) -> str:
    result = cli("audit", "archive", "--to", url, "--until", DAY_3.isoformat())
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result.stderr


def marks(tenantry: Tenantry, world: World) -> list[int]:
    chains = (world.org_id, world.other_org_id, None)
    return [chain_state(tenantry, org_id).archived.seq for org_id in chains]


# --- archive, then verify --------------------------------------------------------------------


def test_a_run_to_s3_archives_every_chain_and_verifies_and_a_rerun_adds_nothing(
    cli: Cli, s3_endpoint: str, bucket: str, world: World, url: str, proxy: FaultProxy
) -> None:
    document = archived(cli, url, DAY_3)

    objects = stored(s3_endpoint, bucket)
    assert sorted(objects) == sorted([digest_key(1), *(o["key"] for o in document["objects"])])
    assert {o["chain_id"] for o in document["objects"]} == {
        world.org_id,
        world.other_org_id,
        SYSTEM_CHAIN,
    }
    assert verified(cli, url)["ok"] is True
    # Each object is created once, conditionally: If-None-Match on every PUT.
    puts = [path for method, path, _ in proxy.seen if method == "PUT"]
    assert len(puts) == len(objects)

    again = archived(cli, url, DAY_3)

    assert (again["digest"], again["written"]) == (None, 0)
    assert stored(s3_endpoint, bucket) == objects


# --- tampering -------------------------------------------------------------------------------


def flip_a_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def reorder_lines(data: bytes) -> bytes:
    lines = gzip.decompress(data).splitlines(keepends=True)
    return gzip.compress(b"".join([lines[1], lines[0], *lines[2:]]), mtime=0)


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (flip_a_byte, "object_sha256_mismatch"),
        (reorder_lines, "object_sha256_mismatch"),
        (truncate, "object_sha256_mismatch"),
        (None, "object_missing"),
    ],
)
def test_a_changed_object_in_the_bucket_is_caught_and_named(
    cli: Cli,
    s3_endpoint: str,
    bucket: str,
    world: World,
    url: str,
    tamper: Callable[[bytes], bytes] | None,
    problem: str,
) -> None:
    archived(cli, url, DAY_3)
    objects = stored(s3_endpoint, bucket)
    key = min(k for k in objects if k.startswith(f"orgs/{world.org_id}/"))

    if tamper is None:
        s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=f"{PREFIX}/{key}")
    else:
        put(s3_endpoint, bucket, key, tamper(objects[key]))

    found = first_break(cli, url)
    assert (found["problem"], found["digest"], found["key"]) == (problem, 1, key)


def test_a_digest_replaced_in_the_bucket_by_one_signed_with_another_key_is_caught(
    cli: Cli, s3_endpoint: str, bucket: str, world: World, url: str
) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    from tenantry.archive import DIGEST_TYPE

    archived(cli, url, DAY_3)
    token = stored(s3_endpoint, bucket)[digest_key(1)].decode()
    forged = jwt.api_jws.encode(
        jwt.utils.base64url_decode(token.split(".")[1]),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "key_of_someone_else", "typ": DIGEST_TYPE},
    )
    put(s3_endpoint, bucket, digest_key(1), forged.encode())

    found = first_break(cli, url)
    assert (found["problem"], found["digest"]) == ("unknown_key", 1)


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["503", "stall", "drop", "drop_after_forward"])
def test_a_passing_fault_is_retried_and_the_run_completes_once(
    cli: Cli,
    s3_endpoint: str,
    bucket: str,
    world: World,
    url: str,
    proxy: FaultProxy,
    kind: Any,
) -> None:
    proxy.inject(kind, method="PUT", path=f"/orgs/{world.org_id}/", times=ATTEMPTS - 1)

    document = archived(cli, url, DAY_3)

    assert proxy.faults_left() == 0
    assert document["digest"] == 1
    assert sorted(stored(s3_endpoint, bucket)) == sorted(
        [digest_key(1), *(o["key"] for o in document["objects"])]
    )
    assert verified(cli, url)["ok"] is True


def test_a_digest_that_cannot_be_written_moves_no_mark_and_the_rerun_writes_it(
    cli: Cli,
    tenantry: Tenantry,
    s3_endpoint: str,
    bucket: str,
    world: World,
    url: str,
    proxy: FaultProxy,
) -> None:
    proxy.inject("503", method="PUT", path="/digests/", times=ATTEMPTS)

    assert "error archive_unavailable:" in failed(cli, url)

    assert marks(tenantry, world) == [0, 0, 0]
    objects = stored(s3_endpoint, bucket)
    assert objects  # the objects are there, listed by no digest
    assert digest_key(1) not in objects
    assert first_break(cli, url)["problem"] == "unlisted_object"

    again = archived(cli, url, DAY_3)

    assert (again["digest"], again["written"]) == (1, 0)  # every object was there already
    assert sorted(stored(s3_endpoint, bucket)) == sorted([*objects, digest_key(1)])
    assert 0 not in marks(tenantry, world)
    assert verified(cli, url)["ok"] is True


def test_a_digest_written_whose_answer_was_lost_is_taken_up_by_the_rerun(
    cli: Cli,
    tenantry: Tenantry,
    store_target: StoreTarget,
    s3_endpoint: str,
    bucket: str,
    world: World,
    url: str,
    proxy: FaultProxy,
) -> None:
    # The first PUT of the digest reaches S3; its answer, and those of the retries (412: it
    # exists), never come back. The run fails after its digest, before any mark.
    proxy.inject("drop_after_forward", method="PUT", path="/digests/", times=ATTEMPTS)

    assert "error archive_unavailable:" in failed(cli, url)

    assert digest_key(1) in stored(s3_endpoint, bucket)
    assert marks(tenantry, world) == [0, 0, 0]

    again = archived(cli, url, DAY_3)

    assert (again["recovered_digest"], again["digest"]) == (1, None)
    assert [k for k in stored(s3_endpoint, bucket) if k.startswith("digests/")] == [digest_key(1)]
    by_day = days_before(stored_events(store_target, world.org_id), DAY_3)
    assert marks(tenantry, world)[0] == by_day[max(by_day)][-1].seq
    assert verified(cli, url)["ok"] is True


def test_an_archive_that_stalls_is_unavailable_not_broken(
    cli: Cli, world: World, url: str, proxy: FaultProxy
) -> None:
    archived(cli, url, DAY_3)
    proxy.inject("stall", method="GET", path="/digests/", times=ATTEMPTS)

    result = cli("audit", "verify", "--from", url, "--json")

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "error archive_unavailable:" in result.stderr
    assert result.stdout == ""


def test_an_object_that_exists_with_other_bytes_is_never_overwritten(
    cli: Cli,
    tenantry: Tenantry,
    s3_endpoint: str,
    bucket: str,
    store_target: StoreTarget,
    world: World,
    url: str,
) -> None:
    day, events = min(days_before(stored_events(store_target, world.org_id), DAY_3).items())
    key = object_key(world.org_id, day, events[0].seq or 0, events[-1].seq or 0)
    put(s3_endpoint, bucket, key, b"not these events")

    assert "error archive_object_differs:" in failed(cli, url)

    assert stored(s3_endpoint, bucket)[key] == b"not these events"
    assert digest_key(1) not in stored(s3_endpoint, bucket)
    assert chain_state(tenantry, world.org_id).archived.seq == 0
    assert json.loads(cli("audit", "verify", "--from", url, "--json").stdout)["ok"] is False
