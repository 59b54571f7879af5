"""Builders and helpers shared by the suites. They drive tenantry through its real entry
points (HTTP, services) and read results back through its own repositories."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tenantry.audit.ports import AuditQuery, AuditRepository
from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.audit import AuditEvent
from tenantry.domain.model import Membership, MembershipStatus
from tenantry.domain.roles import OrgRole
from tenantry.flows.dispatch import dispatch_due
from tenantry.http.app import create_app
from tenantry.mail.smtp import SmtpMailer
from tenantry.settings import Environment, Settings, dynamo_target
from tenantry.store.dynamo import codec
from tenantry.store.dynamo.store import dynamo_client, open_dynamo_store
from tenantry.store.sql.audit import SqlAudit
from tenantry.store.sql.store import SqlStore
from tenantry.store.sql.writes import WriteBuffer
from tests import token_sweep
from tests.in_process import InProcessClient
from tests.postgres_server import PgUrls
from tests.smtp_server import HOST, SmtpServer

# A module that serves a flow of the serverless deployment runs on DynamoDB (AWS's DynamoDB
# Local) too, beside SQLite and PostgreSQL: `pytestmark = ON_EVERY_STORE`. (A module that
# reads SQL rows directly cannot.)
ON_EVERY_STORE = pytest.mark.parametrize(
    "store_target", ["sqlite", "postgres", "dynamo"], indirect=True
)

# For a module some of whose tests start servers of their own and use no store: those of its
# tests that use one run on every store (conftest's `pytest_generate_tests`).
ON_EVERY_STORE_USED = pytest.mark.every_store

PASSWORD = "correct horse battery staple"
FAST_ARGON2 = {"argon2_memory_kib": 1024, "argon2_time_cost": 1}
SENDER = "tenantry <no-reply@tenantry.test>"


class TestClock:
    """A clock the test moves by hand; expiry tests advance it instead of sleeping."""

    __test__ = False  # a helper, not a test class, whatever its name

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta = timedelta(0), /, **delta: float) -> None:
        """Move by a `timedelta`, by `timedelta` keywords (`seconds=5`), or both; back if < 0."""
        self._now += by + timedelta(**delta)


@dataclass
class StoreTarget:
    """Where a test's data lives: the runtime URL and a privileged URL that sees every row."""

    name: str
    url: str
    privileged_url: str
    migration_url: str | None = None


def postgres_target(urls: PgUrls) -> StoreTarget:
    """The test database as the service sees it, with the superuser as the privileged URL."""
    superuser = make_url(urls.admin_url).set(database=urls.database)
    return StoreTarget(
        "postgres",
        urls.runtime_url,
        superuser.render_as_string(hide_password=False),
        migration_url=urls.owner_url,
    )


@contextmanager
def connected(url: str) -> Iterator[sa.Connection]:
    """One connection on an engine of its own, disposed of afterwards."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@contextmanager
def sql_store(url: str) -> Iterator[SqlStore]:
    """tenantry's store on `url`, disposed of afterwards."""
    store = SqlStore(url)
    try:
        yield store
    finally:
        store.dispose()


def leaked_tokens(target: StoreTarget) -> set[str]:
    """The secrets mailed in this test that the store's audit events or outbox hold."""
    if target.name == "dynamo":
        return token_sweep.leaks_in_texts(str(item) for item in _logged_items(target.url))
    with privileged(target) as db:
        return token_sweep.leaks_in_store(db)


def _logged_items(url: str) -> Iterator[dict[str, Any]]:
    return items_of(url, "audit_event", "outbox_entry")


def items_of(url: str, *entities: str) -> Iterator[dict[str, Any]]:
    """The items of these entities in a DynamoDB table, as DynamoDB gives them: the test reads
    the whole table (the store itself never scans it)."""
    target = dynamo_target(url)
    client = dynamo_client(target)
    names = {f":e{n}": {"S": entity} for n, entity in enumerate(entities)}
    arguments: dict[str, Any] = {
        "TableName": target.table,
        "FilterExpression": f"entity IN ({', '.join(names)})",
        "ExpressionAttributeValues": names,
    }
    while True:
        answer = client.scan(**arguments)
        yield from answer.get("Items", [])
        if not answer.get("LastEvaluatedKey"):
            return
        arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def dynamo_rows(url: str, entity: str) -> list[SimpleNamespace]:
    """The items of one entity in a DynamoDB table, decoded, each as a row of attributes."""
    return [SimpleNamespace(**codec.decode(item)) for item in items_of(url, entity)]


def privileged(target: StoreTarget) -> AbstractContextManager[sa.Connection]:
    """A connection that row-level security spares, for reading rows in every tenant."""
    return connected(target.privileged_url)


@contextmanager
def rows_added_are_removed(target: StoreTarget, key: sa.Column[Any]) -> Iterator[None]:
    """Deletes on the way out the rows of `key`'s table that were not there on the way in.

    For tests that write to a table no tenant owns (signing keys, the outbox): on the shared
    PostgreSQL database, whatever they left behind would reach the apps of later tests.
    """
    with privileged(target) as db:
        before = set(db.scalars(sa.select(key)))
    try:
        yield
    finally:
        with privileged(target) as db:
            added = set(db.scalars(sa.select(key))) - before
            if added:
                db.execute(sa.delete(key.table).where(key.in_(added)))
                db.commit()


def test_settings(target: StoreTarget, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": target.url,
        "migration_database_url": target.migration_url,
        "secret_key": "test-secret-" + "x" * 40,
        "secret_key_file": tmp_path / "secret",
        "public_url": "http://tenantry.test",
        **FAST_ARGON2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


test_settings.__test__ = False  # type: ignore[attr-defined]


def copy_sqlite(template: Path, destination: Path) -> str:
    shutil.copyfile(template, destination)
    return f"sqlite:///{destination}"


@dataclass
class Mailbox:
    """Delivers the outbox through real SMTP to an aiosmtpd server and reads what arrived."""

    tenantry: Tenantry
    server: SmtpServer

    def deliver(self) -> list[EmailMessage]:
        dispatch_due(
            self.tenantry.store.unit_of_work,
            self.tenantry.mailer,
            clock=self.tenantry.clock,
            max_attempts=3,
        )
        return self.server.messages

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.deliver() if m["To"] == address]

    def last_link_token(self, address: str, path: str) -> str:
        for message in reversed(self.messages_to(address)):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(rf"{re.escape(path)}\?token=([A-Za-z0-9_%-]+)", body.get_content())
            if found:
                return found.group(1)
        raise AssertionError(f"no {path} link was mailed to {address}")

    def last_invitation_token(self, address: str) -> str:
        """The token of the last invitation link (`/invitations/{token}`) mailed to `address`."""
        for message in reversed(self.messages_to(address)):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"/invitations/([A-Za-z0-9_.%-]+)", body.get_content())
            if found:
                return found.group(1)
        raise AssertionError(f"no invitation link was mailed to {address}")


def smtp_mailer(port: int, **options: Any) -> SmtpMailer:
    """A real SMTP mailer for a port on loopback (a closed one, to see sends fail)."""
    return SmtpMailer(host=HOST, port=port, sender=SENDER, **options)


def build_tenantry(
    settings: Settings, clock: TestClock, server: SmtpServer, **kwargs: Any
) -> Tenantry:
    tenantry = bootstrap(settings, clock=clock, mailer=smtp_mailer(server.port), **kwargs)
    prepare_to_serve(tenantry)
    return tenantry


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str
    org_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def unique_email(label: str = "user") -> str:
    return f"{label}-{secrets.token_hex(5)}@example.com"


def unique_slug(label: str = "org") -> str:
    return f"{label}-{secrets.token_hex(5)}"


class Api:
    """The HTTP API as a user meets it, plus the mailbox for their links."""

    def __init__(self, tenantry: Tenantry, mailbox: Mailbox) -> None:
        self.tenantry = tenantry
        self.mailbox = mailbox
        self.client = InProcessClient(create_app(tenantry), raise_server_exceptions=False)
        self.client.event_hooks["response"].append(token_sweep.record_response)

    def signup(
        self, email: str | None = None, password: str = PASSWORD, name: str = "Test User"
    ) -> Any:
        email = email or unique_email()
        return self.client.post(
            "/v1/auth/signup", json={"email": email, "password": password, "name": name}
        )

    def login(self, email: str, password: str = PASSWORD, org_id: str | None = None) -> Any:
        body: dict[str, Any] = {"email": email, "password": password}
        if org_id:
            body["organisation_id"] = org_id
        return self.client.post("/v1/auth/login", json=body)

    def verified_account(self, email: str | None = None, name: str = "Test User") -> Account:
        email = email or unique_email()
        created = self.signup(email, name=name)
        assert created.status_code == 202, created.text  # the same for a taken email
        token = self.mailbox.last_link_token(email, "/verify-email")
        verified = self.client.post("/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text
        tokens = self.login(email).json()
        me = self.client.get("/v1/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200, me.text
        return Account(
            email, PASSWORD, me.json()["id"], tokens["access_token"], tokens["refresh_token"]
        )

    def switch_org(self, account: Account, org_id: str) -> Account:
        response = self.client.post(
            "/v1/auth/refresh",
            json={"refresh_token": account.refresh_token, "organisation_id": org_id},
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        account.access_token, account.refresh_token = (
            tokens["access_token"],
            tokens["refresh_token"],
        )
        account.org_id = org_id
        return account

    def owner_with_org(self, slug: str | None = None) -> tuple[Account, dict[str, Any]]:
        owner = self.verified_account()
        response = self.client.post(
            "/v1/organisations",
            json={"name": "Acme", "slug": slug or unique_slug()},
            headers=owner.auth,
        )
        assert response.status_code == 201, response.text
        org = response.json()
        return self.switch_org(owner, org["id"]), org

    def member_of(self, org_id: str, role: OrgRole = OrgRole.MEMBER) -> Account:
        """A verified user made a member directly through the store (invitations come later)."""
        account = self.verified_account()
        self.add_membership(account, org_id, role)
        return self.switch_org(account, org_id)

    def add_membership(self, account: Account, org_id: str, role: OrgRole) -> None:
        """`account`'s user made an active member of `org_id`, directly through the store."""
        with self.tenantry.store.unit_of_work(org_id=org_id, user_id=account.user_id) as uow:
            uow.memberships.add(
                Membership(
                    org_id,
                    account.user_id,
                    role,
                    MembershipStatus.ACTIVE,
                    self.tenantry.clock.now(),
                    email=account.email,
                    name="Test User",
                )
            )
            uow.commit()


def audit_events(
    target: StoreTarget, *, after_seq: int | None = None, **query: Any
) -> list[AuditEvent]:
    """Every matching audit event of one chain (after `after_seq`, if given), oldest first,
    read a thousand at a time through a connection that row-level security spares."""
    found: list[AuditEvent] = []
    with _audit_log(target) as audit:
        while page := audit.find(
            AuditQuery(limit=1000, after_seq=_last_seq(found, after_seq), **query)
        ):
            found.extend(page)
    return found


def audit_head(target: StoreTarget, org_id: str | None) -> int:
    """The seq of the newest event of one chain (0 while it is empty)."""
    with _audit_log(target) as audit:
        newest = audit.find(AuditQuery(org_id=org_id, newest_first=True, limit=1))
    return (newest[0].seq or 0) if newest else 0


@contextmanager
def _audit_log(target: StoreTarget) -> Iterator[AuditRepository]:
    """The audit log of every tenant: on SQL through a connection row-level security spares;
    on DynamoDB, which has no such rule, through the store's own unit of work."""
    if target.name == "dynamo":
        with open_dynamo_store(target.url).unit_of_work() as uow:
            yield uow.audit
        return
    with privileged(target) as connection:
        yield SqlAudit(connection, WriteBuffer(), None)


def _last_seq(events: list[AuditEvent], start: int | None) -> int | None:
    return events[-1].seq if events else start


def actions(events: list[AuditEvent]) -> list[tuple[str, str]]:
    return [(event.action, event.outcome.value) for event in events]
