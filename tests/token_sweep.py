"""The suite-wide sweep for invitation tokens (issue 10): a token is only ever in the email.

Every invitation link the test SMTP server receives adds its secret to `MAILED` (per worker
process). Then, for every test:
- each response body the harness's HTTP client (`Api.client`) received,
- everything the test printed and logged (pytest's captured stdout and stderr, which is where
  tenantry's log lines go), and
- every audit event and outbox entry in the test's store (the outbox seals the bodies it
  holds), when the test mailed an invitation
are searched for every secret mailed so far in the worker, and a secret found there fails the
test. Tokens of earlier tests count too: a token must never show up later either.

Not swept: servers run as subprocesses (their output goes to pipes the test reads) and emails
sent other ways than SMTP (console, files, SES), whose tokens the sweep never learns.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote

import httpx
import sqlalchemy as sa

from tenantry.store.sql.audit import audit_events
from tenantry.store.sql.outbox import outbox

# The secret after the org id in `/invitations/{org_id}.{secret}`: 32 random bytes, base64url.
_LINK = re.compile(r"/invitations/org_[A-Za-z0-9]+(?:\.|%2E)([A-Za-z0-9_-]{43,})")
_SECRET_LENGTH = 43
_RUN = re.compile(rf"[A-Za-z0-9_-]{{{_SECRET_LENGTH},}}")

MAILED: set[str] = set()


@dataclass
class Sweep:
    """What one test showed the world: its HTTP responses, and the secrets it mailed."""

    responses: list[str] = field(default_factory=list)
    mailed: set[str] = field(default_factory=set)


_current = Sweep()


def start_test() -> Sweep:
    global _current
    _current = Sweep()
    return _current


def note_mailed(message: EmailMessage) -> None:
    """Called by the test SMTP server for each message it receives."""
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return
    for found in _LINK.finditer(unquote(body.get_content())):
        secret = found.group(1)[:_SECRET_LENGTH]
        MAILED.add(secret)
        _current.mailed.add(secret)


def was_mailed(token: str) -> bool:
    return any(secret in MAILED for secret in secrets_in(token))


def record_response(response: httpx.Response) -> None:
    """An httpx response hook: keeps the body (and headers) for the sweep at teardown."""
    response.read()
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    _current.responses.append(f"{headers}\n\n{response.text}")


def secrets_in(text: str) -> set[str]:
    """The mailed secrets that appear anywhere in `text`, percent-encoded or not."""
    found: set[str] = set()
    for run in _RUN.finditer(unquote(text)):
        word = run.group()
        found.update(
            word[start : start + _SECRET_LENGTH]
            for start in range(len(word) - _SECRET_LENGTH + 1)
            if word[start : start + _SECRET_LENGTH] in MAILED
        )
    return found


def leaks_in_responses() -> set[str]:
    return set().union(*(secrets_in(text) for text in _current.responses))


def leaks_in_texts(texts: Iterable[str]) -> set[str]:
    """The secrets mailed in this test that any of `texts` holds (read only if it mailed)."""
    if not _current.mailed:
        return set()
    return set().union(*(secrets_in(text) for text in texts))


def leaks_in_store(connection: sa.Connection) -> set[str]:
    """The secrets mailed in this test that a stored audit event or outbox entry holds."""
    if not _current.mailed:
        return set()
    return _leaks_in(connection, audit_events) | _leaks_in(connection, outbox)


def _leaks_in(connection: sa.Connection, table: sa.Table) -> set[str]:
    # Every column as text, joined: one scan of the table for all of the test's secrets.
    row_text = functools.reduce(
        operator.add, [sa.func.coalesce(sa.cast(column, sa.Text), "") for column in table.c]
    )
    query = sa.select(row_text).where(
        sa.or_(*(row_text.contains(secret, autoescape=True) for secret in _current.mailed))
    )
    return set().union(*(secrets_in(text) for text in connection.scalars(query)))
