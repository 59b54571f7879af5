"""The SES mailer on moto in server mode (a real HTTP endpoint on loopback), on SQLite and on
PostgreSQL: a sign-up's verification email written by the HTTP API goes out through the
dispatcher to SES, with the configuration set and tags; a refused message ends DEAD; a fault
on the way leaves the email PENDING, and the next attempt delivers it once.

tenantry reaches moto through a proxy (tests/s3_server.py's, extended here) that keeps each
request body it forwards and can fault or answer in moto's place. Sent messages are read from
moto's own record (`/moto-api/data.json`). The identity is verified in REGION only, while the
AWS variables name another region: a send that reaches it proves TENANTRY_SES_REGION was used.

The PostgreSQL database is shared by the tests of a worker, so each test mails addresses of
its own, reads only its own rows and deletes them afterwards.
"""

from __future__ import annotations

import base64
import email
import json
import re
import secrets
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tenantry.bootstrap import Tenantry, bootstrap, prepare_to_serve
from tenantry.domain.errors import Invalid, Unavailable
from tenantry.domain.model import OutboxStatus
from tenantry.flows.dispatch import DispatchReport, dispatch_due
from tenantry.http.app import create_app
from tenantry.mail.factory import build_mailer
from tenantry.mail.ses import MAX_ATTEMPTS, SesMailer
from tenantry.outbox.ports import Mailer
from tenantry.settings import Settings
from tenantry.store.sql.tables import outbox
from tests.harness import (
    PASSWORD,
    StoreTarget,
    TestClock,
    privileged,
    rows_added_are_removed,
    test_settings,
    unique_email,
)
from tests.in_process import InProcessClient
from tests.moto_server import TEST_CREDENTIALS, moto_endpoint
from tests.s3_server import FaultProxy
from tests.smtp_server import unused_port

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["moto_endpoint"]  # a fixture

REGION = "eu-west-1"
SEND_PATH = "/v2/email/outbound-emails"  # SES v2 SendEmail
CONFIGURATION_SET = "tenantry-tests"
TAGS = {"app": "tenantry", "stage": "test"}
PUBLIC_URL = "http://tenantry.test"
BATCH = 200  # on PostgreSQL, older tests' due emails go in the same batches as ours
MAX_OUTBOX_ATTEMPTS = 3
LATER = timedelta(hours=2)  # past any backoff of the first attempts


# --- moto and the proxy in front of it ------------------------------------------------------


@dataclass
class SesProxy(FaultProxy):
    """The fault proxy between tenantry and moto, which also keeps the body of each request it
    forwards and can answer the next requests with an SES error in moto's place."""

    forwarded: list[tuple[str, bytes]] = field(default_factory=list)
    _errors: list[tuple[int, str]] = field(default_factory=list)

    def answer_with_error(self, status: int, code: str, *, times: int) -> None:
        with self._lock:
            self._errors.extend([(status, code)] * times)

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            error = self._errors.pop(0) if self._errors else None
        if error is not None:
            status, code = error
            answer = json.dumps({"message": "injected by the test"}).encode()
            return (
                status,
                [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
                answer,
            )
        self.forwarded.append((path, body))
        return super().forward(method, path, headers, body)

    def send_requests(self, *, to: str) -> list[dict[str, Any]]:
        """The SendEmail requests for `to` that reached moto, as sent."""
        requests = [json.loads(body) for path, body in self.forwarded if path == SEND_PATH]
        return [r for r in requests if r["Destination"] == {"ToAddresses": [to]}]


def ses_client(endpoint: str) -> SESV2Client:
    """A plain boto3 client on moto, for what a test does behind tenantry's back."""
    import boto3

    return boto3.session.Session().client(
        "sesv2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class SentBySes:
    message: MimeMessage
    raw: str
    source: str


def sent_to(endpoint: str, recipient: str) -> list[SentBySes]:
    """What moto's SES took for `recipient`, in the order it took it."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310 - loopback
        state = json.load(answer)
    return [
        SentBySes(_parsed(raw["raw_data"]), raw["raw_data"], raw["source"])
        for raw in state.get("ses", {}).get("RawMessage", [])
        if recipient in raw["destinations"]
    ]


def _parsed(raw: str) -> MimeMessage:
    parsed = email.message_from_string(raw, policy=policy.default)
    assert isinstance(parsed, MimeMessage)
    return parsed


# --- tenantry on SES ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    status: OutboxStatus
    attempts: int
    last_error: str | None


@dataclass
class World:
    tenantry: Tenantry
    http: TestClient
    target: StoreTarget
    clock: TestClock
    moto: str
    proxy: SesProxy

    def sign_up(self) -> str:
        recipient = unique_email("ada")
        body = {"email": recipient, "password": PASSWORD, "name": "Ada Lovelace"}
        created = self.http.post("/v1/auth/signup", json=body)
        assert created.status_code == 202, created.text
        return recipient

    def dispatch(self, mailer: Mailer | None = None) -> DispatchReport:
        return dispatch_due(
            self.tenantry.store.unit_of_work,
            mailer or self.tenantry.mailer,
            clock=self.clock,
            max_attempts=self.tenantry.settings.outbox_max_attempts,
            batch_size=BATCH,
        )

    def outbox_rows(self, recipient: str) -> list[OutboxRow]:
        query = sa.select(outbox.c.status, outbox.c.attempts, outbox.c.last_error).where(
            outbox.c.recipient == recipient
        )
        with privileged(self.target) as db:
            return [
                OutboxRow(OutboxStatus(row.status), row.attempts, row.last_error)
                for row in db.execute(query)
            ]

    def sent_to(self, recipient: str) -> list[SentBySes]:
        return sent_to(self.moto, recipient)


@pytest.fixture(autouse=True)
def aws_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """moto's credentials and another region than REGION; no profile of the machine's."""
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[SesProxy]:
    started = SesProxy(moto_endpoint)
    started.start()
    yield started
    started.close()


@pytest.fixture
def sender(moto_endpoint: str) -> str:
    """An address that is a verified SES identity in REGION (and only there)."""
    address = f"no-reply@{secrets.token_hex(5)}.tenantry.test"
    ses_client(moto_endpoint).create_email_identity(EmailIdentity=address)
    return address


@pytest.fixture
def unverified_sender() -> str:
    return f"no-reply@{secrets.token_hex(5)}.unverified.test"


def ses_settings(
    target: StoreTarget, tmp_path: Path, *, sender: str, endpoint: str, configuration_set: str
) -> Settings:
    return test_settings(
        target,
        tmp_path,
        public_url=PUBLIC_URL,
        mailer="ses",
        mail_from=f"Tenantry <{sender}>",
        ses_region=REGION,
        ses_configuration_set=configuration_set,
        ses_tags=TAGS,
        ses_endpoint_url=endpoint,
        outbox_max_attempts=MAX_OUTBOX_ATTEMPTS,
    )


WorldFor = Callable[[str], World]


@pytest.fixture
def world_for(
    store_target: StoreTarget, tmp_path: Path, moto_endpoint: str, proxy: SesProxy
) -> Iterator[WorldFor]:
    """Builds tenantry for a sender from TENANTRY_MAILER=ses settings, as `serve` would; SES
    is reached through the proxy."""
    configuration_set = f"tenantry-{secrets.token_hex(4)}"
    ses_client(moto_endpoint).create_configuration_set(ConfigurationSetName=configuration_set)
    built: list[Tenantry] = []

    def world(sender: str) -> World:
        settings = ses_settings(
            store_target,
            tmp_path,
            sender=sender,
            endpoint=proxy.url,
            configuration_set=configuration_set,
        )
        clock = TestClock()
        tenantry = bootstrap(settings, clock=clock)
        built.append(tenantry)
        prepare_to_serve(tenantry)
        http = InProcessClient(create_app(tenantry), raise_server_exceptions=False)
        return World(tenantry, http, store_target, clock, moto_endpoint, proxy)

    with rows_added_are_removed(store_target, outbox.c.id):
        yield world
    for tenantry in built:
        tenantry.close()


def text_and_html(message: MimeMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def verification_link(text: str) -> str:
    found = re.search(rf"{re.escape(PUBLIC_URL)}/verify-email\?token=[A-Za-z0-9_%-]+", text)
    assert found, text
    return found.group(0)


# --- delivered ------------------------------------------------------------------------------


def test_a_sign_up_email_goes_out_through_ses_and_its_link_verifies_the_address(
    world_for: WorldFor, sender: str
) -> None:
    world = world_for(sender)
    assert isinstance(world.tenantry.mailer.inner, SesMailer)
    recipient = world.sign_up()
    assert world.outbox_rows(recipient) == [OutboxRow(OutboxStatus.PENDING, 0, None)]

    world.dispatch()

    [sent] = world.sent_to(recipient)
    assert sent.source == sender
    mail = sent.message
    assert mail["Subject"] == "Verify your email address"
    assert mail["To"] == recipient
    assert mail["From"] == f"Tenantry <{sender}>"
    assert mail["X-Tenantry-Kind"] == "verify_email"
    assert re.fullmatch(rf"<[^<>@\s]+@{re.escape(sender.split('@')[1])}>", mail["Message-ID"])
    text, html = text_and_html(mail)
    link = verification_link(text)
    assert f'href="{link}"' in html
    assert world.outbox_rows(recipient) == [OutboxRow(OutboxStatus.SENT, 0, None)]

    token = link.split("token=", 1)[1]
    verified = world.http.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    signed_in = world.http.post("/v1/auth/login", json={"email": recipient, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


def test_each_send_names_the_configuration_set_and_tags_and_carries_the_mime_bytes(
    world_for: WorldFor, sender: str
) -> None:
    world = world_for(sender)
    recipient = world.sign_up()

    world.dispatch()

    [request] = world.proxy.send_requests(to=recipient)
    assert request["FromEmailAddress"] == sender
    assert request["ConfigurationSetName"] == world.tenantry.settings.ses_configuration_set
    assert request["EmailTags"] == [{"Name": name, "Value": value} for name, value in TAGS.items()]
    raw = base64.b64decode(request["Content"]["Raw"]["Data"])
    [sent] = world.sent_to(recipient)
    assert raw.decode() == sent.raw
    assert raw.count(b"\n") == raw.count(b"\r\n")  # RFC 5322: every line ends in CRLF


# --- refused: a permanent failure -----------------------------------------------------------


def test_a_message_from_an_unverified_sender_is_refused_and_dead_at_once(
    world_for: WorldFor, unverified_sender: str
) -> None:
    world = world_for(unverified_sender)
    recipient = world.sign_up()

    world.dispatch()
    world.clock.advance(LATER)
    world.dispatch()  # a dead message is not tried again

    [row] = world.outbox_rows(recipient)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert row.last_error is not None
    assert row.last_error.startswith("Invalid: SES refused the message: MessageRejected")
    assert world.sent_to(recipient) == []


@pytest.mark.parametrize(
    "code", ["MailFromDomainNotVerifiedException", "BadRequestException", "MessageRejected"]
)
def test_what_ses_refuses_is_recorded_as_a_refusal(
    world_for: WorldFor, sender: str, code: str
) -> None:
    world = world_for(sender)
    recipient = world.sign_up()
    world.proxy.answer_with_error(400, code, times=1)

    world.dispatch()

    [row] = world.outbox_rows(recipient)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert row.last_error is not None
    assert row.last_error.startswith(f"Invalid: SES refused the message: {code}")
    assert world.sent_to(recipient) == []


# --- a fault on the way: transient ----------------------------------------------------------


def test_with_ses_unreachable_the_email_stays_pending_and_goes_out_on_the_next_attempt(
    world_for: WorldFor, sender: str
) -> None:
    world = world_for(sender)
    recipient = world.sign_up()
    closed_port = world.tenantry.settings.model_copy(
        update={"ses_endpoint_url": f"http://127.0.0.1:{unused_port()}"}
    )

    world.dispatch(build_mailer(closed_port))

    [row] = world.outbox_rows(recipient)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.last_error is not None
    assert row.last_error.startswith(
        "Unavailable: SES did not take the message: EndpointConnectionError"
    )
    assert world.sent_to(recipient) == []

    world.clock.advance(LATER)
    world.dispatch()

    assert len(world.sent_to(recipient)) == 1
    assert world.outbox_rows(recipient) == [OutboxRow(OutboxStatus.SENT, 1, row.last_error)]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("503", "ClientError"),  # a 5xx on every attempt botocore makes
        ("drop", "ConnectionClosedError"),  # the connection closed before any answer
        ("throttled", "TooManyRequestsException"),  # 429, SES's throttling
    ],
)
def test_a_fault_on_every_attempt_leaves_the_email_pending_for_the_next_one(
    world_for: WorldFor, sender: str, fault: str, error: str
) -> None:
    world = world_for(sender)
    recipient = world.sign_up()
    if fault == "throttled":
        world.proxy.answer_with_error(429, "TooManyRequestsException", times=MAX_ATTEMPTS)
    else:
        world.proxy.inject(fault, method="POST", path=SEND_PATH, times=MAX_ATTEMPTS)  # type: ignore[arg-type]

    world.dispatch()

    assert world.proxy.faults_left() == 0
    [row] = world.outbox_rows(recipient)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.last_error is not None
    assert row.last_error.startswith(f"Unavailable: SES did not take the message: {error}")
    assert world.sent_to(recipient) == []

    world.clock.advance(LATER)
    world.dispatch()

    assert len(world.sent_to(recipient)) == 1
    [row] = world.outbox_rows(recipient)
    assert row.status is OutboxStatus.SENT


def lose_every_answer_then_deliver(world: World) -> tuple[str, list[SentBySes]]:
    """SES takes the message on every attempt of the first send, but each answer is lost."""
    recipient = world.sign_up()
    world.proxy.inject("drop_after_forward", method="POST", path=SEND_PATH, times=MAX_ATTEMPTS)
    world.dispatch()
    world.clock.advance(LATER)
    world.dispatch()
    return recipient, world.sent_to(recipient)


def test_answers_lost_after_ses_took_the_message_give_copies_never_a_loss(
    world_for: WorldFor, sender: str
) -> None:
    world = world_for(sender)

    recipient, copies = lose_every_answer_then_deliver(world)

    assert len(copies) == MAX_ATTEMPTS + 1  # each lost answer made botocore or the outbox retry
    assert {copy.message["Subject"] for copy in copies} == {"Verify your email address"}
    [row] = world.outbox_rows(recipient)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_every_copy_of_a_retried_message_carries_one_message_id(
    world_for: WorldFor, sender: str
) -> None:
    world = world_for(sender)

    _, copies = lose_every_answer_then_deliver(world)

    assert len({copy.message["Message-ID"] for copy in copies}) == 1


# --- settings and start-up ------------------------------------------------------------------


def plain_settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, secret_key_file=tmp_path / "secret", mailer="ses", **values)


def test_ses_settings_come_from_the_environment_with_the_tags_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TENANTRY_MAILER", "ses")
    monkeypatch.setenv("TENANTRY_SES_REGION", "eu-central-2")
    monkeypatch.setenv("TENANTRY_SES_CONFIGURATION_SET", "tenantry_prod-1")
    monkeypatch.setenv("TENANTRY_SES_TAGS", '{"app": "tenantry", "Stage_2": "prod-eu"}')
    monkeypatch.setenv("TENANTRY_SES_ENDPOINT_URL", "https://email.example.com")

    settings = Settings(_env_file=None)

    assert (settings.mailer, settings.ses_region, settings.ses_configuration_set) == (
        "ses",
        "eu-central-2",
        "tenantry_prod-1",
    )
    assert settings.ses_tags == {"app": "tenantry", "Stage_2": "prod-eu"}
    assert settings.ses_endpoint_url == "https://email.example.com"


REFUSED_SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "tag-with-a-space": ({"ses_tags": {"app": "ten antry"}}, "'ten antry' refused"),
    "empty-tag-value": ({"ses_tags": {"app": ""}}, "'' refused"),
    "tag-name-too-long": ({"ses_tags": {"a" * 257: "x"}}, "1 to 256 ASCII letters"),
    "tags-not-json": ({"ses_tags": "app=tenantry"}, "not a JSON object"),
    "set-with-a-dot": ({"ses_configuration_set": "a.b"}, "not an SES configuration set"),
    "set-too-long": ({"ses_configuration_set": "s" * 65}, "not an SES configuration set"),
    "region-typo": ({"ses_region": "EU West 1"}, "not an AWS region name"),
    "plain-http-endpoint": (
        {"ses_endpoint_url": "http://email.example.com"},
        "must be https (plain http only on a loopback address)",
    ),
}


@pytest.mark.parametrize(("values", "message"), REFUSED_SETTINGS.values(), ids=REFUSED_SETTINGS)
def test_ses_settings_refuse_what_ses_would_refuse_with_a_message(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        plain_settings(tmp_path, **values)

    assert message in str(refused.value)


def test_without_boto3_the_ses_mailer_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` meets without it

    with pytest.raises(Unavailable) as missing:
        build_mailer(plain_settings(tmp_path, ses_region=REGION))

    assert missing.value.code == "aws_extra_missing"
    assert "pip install 'tenantry[aws]'" in missing.value.detail


def test_without_any_region_the_ses_mailer_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    with pytest.raises(Invalid) as refused:
        build_mailer(plain_settings(tmp_path))

    assert "TENANTRY_SES_REGION" in refused.value.detail
