"""The audit archive: its layout, its objects and signed digests, and where it is.

Keys, relative to the archive's root (a folder, or a bucket and prefix):

    orgs/{org_id}/{YYYY-MM-DD}/{first_seq:012d}-{last_seq:012d}.jsonl.gz
    system/{YYYY-MM-DD}/{first_seq:012d}-{last_seq:012d}.jsonl.gz
    digests/{number:08d}.jws

An object holds consecutive events of one chain and one UTC day, in seq order, one line
each: the RFC 8785 canonical JSON of the event's export shape (`event_json`) and `\\n`,
gzipped with no name and time 0, so the same events always make the same bytes. A digest is
a compact JWS whose payload is the canonical JSON of a `Digest`: the objects one run wrote,
each with its SHA-256, and the SHA-256 of the digest before it. docs/audit-archive.md gives
both byte for byte. Pure, but for `open_archive`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import rfc8785

from tenantry.archive.files import FolderArchive
from tenantry.archive.ports import Archive
from tenantry.audit.schemas import event_json
from tenantry.domain.audit import AuditEvent
from tenantry.domain.audit_chain import SYSTEM_CHAIN, chain_of, event_from_fields
from tenantry.domain.errors import Invalid
from tenantry.domain.model import SigningKey
from tenantry.settings import Settings
from tenantry.tokens.compact import MalformedToken, read_compact
from tenantry.tokens.keys import PrivateKey

DIGESTS = "digests/"
EVENT_PREFIXES = ("orgs/", SYSTEM_CHAIN + "/")
DIGEST_TYPE = "tenantry-audit-digest"  # the JWS `typ`: no access token passes for a digest
DIGEST_VERSION = 1
_DIGEST_KEY = re.compile(r"digests/(\d{8})\.jws")
# The fields of `event_json`: an object's line has these and no others.
EVENT_FIELDS = frozenset(
    {
        "event_id", "org_id", "seq", "occurred_at", "event_type", "action", "outcome",
        "actor_id", "actor_type", "resource_type", "resource_id", "reason", "details",
        "request_id", "prev_hash", "hash",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One object as a digest lists it."""

    key: str
    sha256: str
    chain_id: str
    org_id: str | None
    day: str
    first_seq: int
    last_seq: int
    first_prev_hash: str
    last_hash: str
    events: int


@dataclass(frozen=True, slots=True)
class Digest:
    number: int
    previous_digest_sha256: str | None
    created_at: str
    objects: tuple[ObjectEntry, ...]


class MalformedObject(ValueError):
    """An object that is not gzipped JSON lines of events."""


class DigestRefused(ValueError):
    """A digest that cannot be trusted; `problem` is a stable code."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


def object_key(org_id: str | None, day: str, first_seq: int, last_seq: int) -> str:
    folder = SYSTEM_CHAIN if org_id is None else f"orgs/{org_id}"
    return f"{folder}/{day}/{first_seq:012d}-{last_seq:012d}.jsonl.gz"


def digest_key(number: int) -> str:
    return f"{DIGESTS}{number:08d}.jws"


def digest_number(key: str) -> int | None:
    """The number of a digest's key, or None if `key` is not one."""
    found = _DIGEST_KEY.fullmatch(key)
    return int(found.group(1)) if found else None


def day_of(event: AuditEvent) -> str:
    return event.occurred_at.astimezone(UTC).date().isoformat()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_bytes(events: Sequence[AuditEvent]) -> bytes:
    lines = b"".join(rfc8785.dumps(event_json(event)) + b"\n" for event in events)
    buffer = io.BytesIO()
    # GzipFile, not gzip.compress: its header names no file, no time and no OS (255).
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as packed:
        packed.write(lines)
    return buffer.getvalue()


def entry_for(events: Sequence[AuditEvent], data: bytes) -> ObjectEntry:
    """The digest's entry for an object of `events` (one chain, one day, in seq order)."""
    first, last = events[0], events[-1]
    day = day_of(first)
    return ObjectEntry(
        key=object_key(first.org_id, day, first.seq or 0, last.seq or 0),
        sha256=sha256_hex(data),
        chain_id=chain_of(first.org_id),
        org_id=first.org_id,
        day=day,
        first_seq=first.seq or 0,
        last_seq=last.seq or 0,
        first_prev_hash=first.prev_hash or "",
        last_hash=last.hash or "",
        events=len(events),
    )


def events_of(data: bytes) -> list[AuditEvent]:
    """The events of an object; `MalformedObject` naming the line that is not one."""
    try:
        lines = gzip.decompress(data).split(b"\n")
    except (OSError, EOFError, zlib.error) as error:
        raise MalformedObject(f"not gzip: {error}") from error
    if lines[-1] != b"":
        raise MalformedObject("the last line does not end with a newline")
    events = []
    for number, line in enumerate(lines[:-1], start=1):
        try:
            events.append(_event(json.loads(line.decode("utf-8"))))
        except (ValueError, TypeError, KeyError) as error:
            raise MalformedObject(f"line {number} is not an event: {error}") from error
    return events


def _event(fields: Any) -> AuditEvent:
    if not isinstance(fields, dict) or set(fields) != EVENT_FIELDS:
        raise ValueError("not the fields of an event")
    if not isinstance(fields["details"], dict):
        raise TypeError("details is not an object")
    return event_from_fields(fields)


def digest_payload(digest: Digest) -> bytes:
    """The canonical JSON a digest's signature covers."""
    return rfc8785.dumps(
        {
            "version": DIGEST_VERSION,
            "number": digest.number,
            "previous_digest_sha256": digest.previous_digest_sha256,
            "created_at": digest.created_at,
            "objects": [asdict(entry) for entry in digest.objects],
        }
    )


def signed_digest(digest: Digest, key: SigningKey, private_key: PrivateKey) -> bytes:
    """The digest as a compact JWS (ASCII, no newline), signed with `key`."""
    token = jwt.api_jws.encode(
        digest_payload(digest),
        private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": DIGEST_TYPE},
    )
    return token.encode("ascii")


def read_digest(data: bytes, keys: Mapping[str, SigningKey]) -> Digest:
    """The digest in `data` if one of `keys` signed it; `DigestRefused` otherwise
    (`digest_unreadable`, `unknown_key`, `bad_signature`)."""
    try:
        token = data.decode("ascii")
        jws = read_compact(token)  # strict JSON, before any signature is checked
    except (UnicodeDecodeError, MalformedToken) as error:
        raise DigestRefused("digest_unreadable", f"not a compact JWS: {error}") from error
    if jws.header.get("typ") != DIGEST_TYPE:
        raise DigestRefused("digest_unreadable", f"its typ is not {DIGEST_TYPE}")
    key = keys.get(str(jws.header.get("kid")))
    if key is None:
        raise DigestRefused("unknown_key", f"signed with {jws.header.get('kid')!r}, no key of ours")
    try:
        verifier = jwt.PyJWK(key.public_jwk, algorithm=key.alg)
        jwt.api_jws.decode(token, key=verifier, algorithms=[key.alg])
    except jwt.PyJWTError as error:
        detail = f"the signature of {key.kid} does not hold: {error}"
        raise DigestRefused("bad_signature", detail) from error
    return _digest(jws.claims)


def _digest(claims: dict[str, Any]) -> Digest:
    try:
        if claims["version"] != DIGEST_VERSION or set(claims) != _DIGEST_FIELDS:
            raise ValueError(f"not a version {DIGEST_VERSION} digest")
        return Digest(
            number=_integer(claims["number"]),
            previous_digest_sha256=claims["previous_digest_sha256"],
            created_at=claims["created_at"],
            objects=tuple(_entry(fields) for fields in claims["objects"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DigestRefused("digest_unreadable", f"its payload is not a digest: {error}") from error


def _entry(fields: Any) -> ObjectEntry:
    if not isinstance(fields, dict) or set(fields) != _ENTRY_FIELDS:
        raise ValueError("an object entry has other fields")
    for name in ("first_seq", "last_seq", "events"):
        _integer(fields[name])
    return ObjectEntry(**fields)


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an integer")
    return value


_DIGEST_FIELDS = frozenset({"version", "number", "previous_digest_sha256", "created_at", "objects"})
_ENTRY_FIELDS = frozenset(ObjectEntry.__dataclass_fields__)


def open_archive(url: str, settings: Settings) -> Archive:
    """The archive at `file:///abs/dir` or `s3://bucket/prefix`; `invalid_archive_url`
    for anything else."""
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _invalid_url(url, "it has a query or fragment")
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        folder = Path(unquote(parts.path))
        if not folder.is_absolute() or not parts.path.startswith("/"):
            raise _invalid_url(url, "a folder must be absolute: file:///abs/dir")
        return FolderArchive(folder)
    if parts.scheme == "s3" and parts.netloc:
        from tenantry.archive.s3 import s3_archive

        return s3_archive(parts.netloc, unquote(parts.path), settings)
    raise _invalid_url(url, "use file:///abs/dir or s3://bucket/prefix")


def _invalid_url(url: str, why: str) -> Invalid:
    return Invalid(f"{url!r} is not an archive URL: {why}", code="invalid_archive_url")
