"""A mailer that hands each message to AWS SES (API v2, `SendEmail` with raw content), through
boto3 (the `aws` extra).

The raw content is the MIME message the SMTP mailer sends (`mime.to_mime`), so both senders
put the same headers on a message. SES itself replaces the `Message-ID` and `Date` headers on
the way out; the original headers come back in its event notifications when the identity is
set to include them.

Failures are raised, as the SMTP mailer's are, for the dispatcher to record and retry. Their
kind says whether a retry can help: `Invalid` when SES refused this message (it would refuse
it again), `Unavailable` for everything else (throttling, quotas, a paused account, 5xx,
timeouts, refused or dropped connections, credentials). botocore has already retried the
transient ones (standard mode) within the attempts and timeouts below.

Credentials come from the usual AWS chain (environment, profile, instance or task role), and
so does the region unless `TENANTRY_SES_REGION` names one; `TENANTRY_SES_ENDPOINT_URL` points
at another SES (moto, an SES-compatible service).
"""

from __future__ import annotations

from collections.abc import Mapping
from email import policy
from email.utils import parseaddr
from typing import TYPE_CHECKING

from tenantry.domain.errors import Invalid, TenantryError, Unavailable
from tenantry.domain.model import EmailMessage
from tenantry.mail.mime import to_mime
from tenantry.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import MessageTagTypeDef, SendEmailRequestTypeDef

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 15.0
# Few: the outbox retries a failed message itself, with a backoff of minutes.
MAX_ATTEMPTS = 3

# What SES says when it refuses this message rather than failing to take it (v1 names too,
# which SES-compatible services answer with). Anything else is worth another attempt.
_REFUSED = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "MailFromDomainNotVerified",
        "BadRequestException",
        "AccountSuspendedException",
        "InvalidParameterValue",
        "ValidationError",
    }
)


class SesMailer:
    def __init__(
        self,
        client: SESV2Client,
        *,
        sender: str,
        configuration_set: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set
        self._tags: list[MessageTagTypeDef] = [
            {"Name": name, "Value": value} for name, value in (tags or {}).items()
        ]

    def send(self, message: EmailMessage) -> None:
        request = self._request(message)
        try:
            self._client.send_email(**request)
        except _aws_errors() as error:
            raise _failure(error) from error

    def _request(self, message: EmailMessage) -> SendEmailRequestTypeDef:
        request: SendEmailRequestTypeDef = {
            # The bare address: the From header in the raw message carries the display name.
            "FromEmailAddress": parseaddr(self._sender)[1] or self._sender,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Raw": {"Data": _raw(message, self._sender)}},
        }
        if self._configuration_set is not None:
            request["ConfigurationSetName"] = self._configuration_set
        if self._tags:
            request["EmailTags"] = self._tags
        return request


def ses_mailer(settings: Settings) -> SesMailer:
    """The SES mailer the settings describe; `aws_extra_missing` without boto3."""
    return SesMailer(
        _client(settings),
        sender=settings.mail_from,
        configuration_set=settings.ses_configuration_set,
        tags=settings.ses_tags,
    )


def _raw(message: EmailMessage, sender: str) -> bytes:
    try:
        # RFC 5322 lines end in CRLF; the SMTP policy writes them so.
        return to_mime(message, sender=sender).as_bytes(policy=policy.SMTP)
    except ValueError as error:  # a header the default policy refuses (CR or LF in it)
        raise Invalid(f"the message cannot be sent: {error}") from error


def _client(settings: Settings) -> SESV2Client:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import NoRegionError
    except ImportError as error:
        raise Unavailable(
            "TENANTRY_MAILER=ses needs boto3: pip install 'tenantry[aws]'",
            code="aws_extra_missing",
        ) from error
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    try:
        return boto3.session.Session().client(
            "sesv2",
            region_name=settings.ses_region,
            endpoint_url=settings.ses_endpoint_url,
            config=config,
        )
    except NoRegionError as error:
        raise Invalid(
            "TENANTRY_MAILER=ses needs an AWS region: set TENANTRY_SES_REGION "
            "(or AWS_REGION, or a region in the AWS profile)"
        ) from error


def _aws_errors() -> tuple[type[Exception], ...]:
    # Imported when an error is caught: botocore is there, or no client could be made.
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _failure(error: Exception) -> TenantryError:
    from botocore.exceptions import ParamValidationError

    # botocore's messages name the operation and the cause, never a credential or the body.
    described = f"{type(error).__name__}: {error}"
    if isinstance(error, ParamValidationError) or _error_code(error) in _REFUSED:
        return Invalid(f"SES refused the message: {described}")
    return Unavailable(f"SES did not take the message: {described}")


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None  # not an answer from SES: a timeout, a dropped connection
    code = response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else None
