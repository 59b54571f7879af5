"""Settings from `TENANTRY_*` environment variables or `.env`. Unsafe production values refuse."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tenantry.tokens.jwks import (
    DEFAULT_FETCH_TIMEOUT_SECONDS,
    DEFAULT_REFETCH_INTERVAL_SECONDS,
    DEFAULT_TTL_SECONDS,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound


def listening_url(host: str, port: int) -> str:
    """The http URL a client on this machine uses for a server listening on `host`:`port`."""
    host = DEFAULT_HOST if host in WILDCARD_HOSTS else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# Signatures only the issuer can make. HMAC would need a secret shared with the issuer (and a
# key published in a JWKS would be that secret); "none" is no signature at all.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class TrustedIssuer(BaseModel):
    """An issuer whose tokens `POST /v1/authorize` accepts (docs/external-issuers.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, max_length=255, description="The tokens' exact `iss`.")
    jwks_url: str = Field(min_length=1, max_length=2000)
    audience: str | None = Field(None, min_length=1, description="Checked against `aud`.")
    client_id: str | None = Field(
        None, min_length=1, description="Checked against `client_id` (Cognito access tokens)."
    )
    algorithms: list[str] = Field(default_factory=lambda: ["RS256"], min_length=1)
    organisation_claim: str = Field("custom:organisation_id", min_length=1)
    email_claim: str = Field("email", min_length=1)
    email_verified_claim: str = Field("email_verified", min_length=1)
    link_verified_email: bool = True
    token_use: str | None = Field(None, min_length=1)
    ttl_seconds: float = Field(DEFAULT_TTL_SECONDS, gt=0)
    refetch_interval_seconds: float = Field(DEFAULT_REFETCH_INTERVAL_SECONDS, gt=0)
    fetch_timeout_seconds: float = Field(DEFAULT_FETCH_TIMEOUT_SECONDS, gt=0, le=60)

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _https_unless_loopback(cls, url: str) -> str:
        return https_unless_loopback(url)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, algorithms: list[str]) -> list[str]:
        refused = [name for name in algorithms if name not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} refused: only asymmetric signature algorithms are "
                f"accepted ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); HS* would need a "
                "secret shared with the issuer, and none is no signature"
            )
        return list(dict.fromkeys(algorithms))

    @model_validator(mode="after")
    def _one_audience_check(self) -> TrustedIssuer:
        if (self.audience is None) == (self.client_id is None):
            raise ValueError(
                f"issuer {self.issuer}: give `audience` (checked against `aud`) or `client_id` "
                "(checked against `client_id`), exactly one"
            )
        return self


def https_unless_loopback(url: str) -> str:
    """`url` if it is https, or plain http to a loopback address; else ValueError."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r} is not an absolute URL with a host (and no credentials)")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return url
    raise ValueError(f"{url!r} must be https (plain http only on a loopback address)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _trusted_issuers_document(value: Any) -> Any:
    """TENANTRY_TRUSTED_ISSUERS as given: a JSON list, or the path of a file holding one."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if not text.startswith("["):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"neither a JSON list nor a readable JSON file: {error}") from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"not a JSON list of issuers: {error}") from error


# --- SES (docs/configuration.md, "Email") ---------------------------------------------------

# What SES allows in a configuration set's name, and in a message tag's name and value.
_SES_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SES_TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")
_AWS_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _aws_region(region: str) -> str:
    if not _AWS_REGION.fullmatch(region) or len(region) > 32:
        raise ValueError(f"{region!r} is not an AWS region name (such as eu-west-1)")
    return region


@dataclass(frozen=True, slots=True)
class DynamoTarget:
    """The DynamoDB table a `dynamodb://TABLE?region=REGION[&endpoint=URL]` URL names."""

    table: str
    region: str | None = None
    endpoint: str | None = None  # another endpoint than AWS's: DynamoDB Local


DYNAMO_SCHEME = "dynamodb"
SQL_BULK_INVITATION_MAX = 100
# A bulk invitation is one transaction, and one DynamoDB transaction holds 100 items. A row
# writes at most 6 (the invitation; the items of its token and of its address; the expired
# invitation it replaces; its email; its audit event), the request 3 more (the organisation's
# epoch, the audit chain's head and its entry): 15 rows take at most 93.
DYNAMO_BULK_INVITATION_MAX = 15
_DYNAMO_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def dynamo_target(url: str) -> DynamoTarget:
    """The table a DynamoDB URL names; ValueError, saying what is wrong, otherwise.
    Credentials never go in the URL: boto3 finds them (environment, profile, role)."""
    parts = urlsplit(url)
    options = parse_qs(parts.query)
    unknown = sorted(set(options) - {"region", "endpoint"})
    if parts.scheme != DYNAMO_SCHEME or not _DYNAMO_TABLE.fullmatch(parts.netloc):
        raise ValueError(
            f"{url!r} is not dynamodb://TABLE?region=REGION (a table name of 3 to 255 "
            "letters, digits, _ . or -)"
        )
    if parts.path not in ("", "/") or unknown:
        raise ValueError(f"{url!r}: a DynamoDB URL takes only ?region= and &endpoint=")
    region = options.get("region", [None])[-1]
    endpoint = options.get("endpoint", [None])[-1]
    return DynamoTarget(
        table=parts.netloc,
        region=_aws_region(region) if region is not None else None,
        endpoint=https_unless_loopback(endpoint) if endpoint is not None else None,
    )


def _database_url(url: str) -> str:
    if url.startswith(f"{DYNAMO_SCHEME}:"):
        dynamo_target(url)
    return url


def _ses_configuration_set(name: str) -> str:
    if not _SES_CONFIGURATION_SET.fullmatch(name):
        raise ValueError(
            f"{name!r} is not an SES configuration set name: 1 to 64 ASCII letters, digits, _ or -"
        )
    return name


def _ses_tags_document(value: Any) -> Any:
    """TENANTRY_SES_TAGS as given: a JSON object of names to values."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else {}
    except ValueError as error:
        raise ValueError(f'not a JSON object such as {{"app": "tenantry"}}: {error}') from error


def _ses_tags(tags: dict[str, str]) -> dict[str, str]:
    refused = [text for pair in tags.items() for text in pair if not _SES_TAG_TEXT.fullmatch(text)]
    if refused:
        raise ValueError(
            f"{', '.join(map(repr, refused))} refused: an SES tag name or value is 1 to 256 "
            "ASCII letters, digits, _ or -"
        )
    return tags


def _existing_directory(path: Path) -> Path:
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory")
    return path


SesTags = Annotated[
    dict[str, str], NoDecode, BeforeValidator(_ses_tags_document), AfterValidator(_ses_tags)
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENANTRY_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    # SQLite or PostgreSQL (an SQLAlchemy URL), dynamodb://TABLE?region=R, or memory://.
    database_url: Annotated[str, AfterValidator(_database_url)] = "sqlite:///./tenantry.db"
    migration_database_url: str | None = None
    secret_key: SecretStr | None = None
    secret_key_file: Path = Path("./tenantry.secret")
    # Where clients and the product's pages reach tenantry: the issuer, discovery and email
    # links. None: the address `serve` listens on (`resolved_public_url`).
    public_url: str | None = None
    issuer: str | None = None
    audience: str = "tenantry"

    # For keys made from now on; Ed25519 keys sign as `EdDSA` (docs/tokens.md).
    signing_alg: Literal["ES256", "RS256", "Ed25519", "EdDSA"] = "ES256"
    access_token_ttl_seconds: int = Field(600, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=300)
    email_token_ttl_seconds: int = Field(86_400, ge=60)
    reset_token_ttl_seconds: int = Field(3_600, ge=60)
    require_verified_email: bool = True

    # OWASP's argon2id floor: m=19 MiB, t=2, p=1. Tests may lower these explicitly.
    argon2_memory_kib: int = Field(19_456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)

    # The throttle's figures; docs/security.md ("Throttling") says what each one stops.
    rate_limit_storage: str = "memory://"
    login_failures_per_pair: int = Field(5, ge=1)
    login_failures_per_ip: int = Field(50, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    login_failures_per_account: int = Field(100, ge=1)
    login_account_soft_limit: int = Field(10, ge=1)
    login_account_window_seconds: int = Field(86_400, ge=60)
    login_usual_address_days: int = Field(30, ge=1)
    mail_requests_per_email: int = Field(5, ge=1)
    mail_requests_per_ip: int = Field(30, ge=1)
    mail_request_window_seconds: int = Field(3_600, ge=1)
    # Sign-up answers 202 whether or not the email has an account; true: 201 and 409.
    signup_reveals_existing: bool = False
    # Addresses at .test, .local, .internal, localhost...; None: allowed outside production.
    allow_special_use_email_domains: bool | None = None
    # A sign-in beyond the cap revokes the user's oldest live session (audited).
    max_sessions_per_user: int = Field(50, ge=1)
    # Registrations per user in any 24 hours; the next one is 429 `organisation_limit_reached`.
    max_organisations_per_user_per_day: int = Field(10, ge=1)
    # Invitations: how long a link works, how many an organisation makes a day, how often one
    # is sent again, and how many rows one bulk request may hold.
    invitation_ttl_seconds: int = Field(7 * 86_400, ge=60)
    invitations_per_org_per_day: int = Field(500, ge=1)
    invitation_resends: int = Field(5, ge=0)
    # Rows one bulk invitation may hold (one transaction). Unset: 100, or on DynamoDB, whose
    # transaction holds 100 items, DYNAMO_BULK_INVITATION_MAX.
    invitation_bulk_max: int | None = Field(None, ge=1, le=1000)

    mailer: Literal["console", "files", "smtp", "ses"] = "console"
    mail_dir: Path = Path("./tenantry-mail")
    mail_from: str = "tenantry <no-reply@localhost>"
    # A directory of Jinja2 templates that replace tenantry's own file by file (`invitation.html`,
    # `layout.html`, ...); the ones it lacks come from tenantry.
    mail_templates_dir: Annotated[Path, AfterValidator(_existing_directory)] | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    # SES (the `aws` extra). Credentials come from the usual AWS chain; so does the region when
    # this names none.
    ses_region: Annotated[str, AfterValidator(_aws_region)] | None = None
    ses_configuration_set: Annotated[str, AfterValidator(_ses_configuration_set)] | None = None
    # Tags on every message (for the configuration set's event destinations); env as JSON.
    ses_tags: SesTags = Field(default_factory=dict)
    # Another SES than AWS's (moto, an SES-compatible service). The messages carry live links:
    # https, or plain http on loopback only.
    ses_endpoint_url: Annotated[str, AfterValidator(https_unless_loopback)] | None = None
    outbox_max_attempts: int = Field(8, ge=1)
    outbox_poll_seconds: float = Field(2.0, gt=0)
    # `tenantry serve` runs the outbox dispatcher beside the API. Off when the deployment runs
    # `tenantry outbox run` (or several) on its own.
    serve_dispatches_outbox: bool = True

    # The Lambda authorizer (`tenantry.aws.authorizer`): the permission each route of the
    # product's API needs, `{"POST /sites/{id}/publish": "site:publish", ...}` (aws/routes.py),
    # and what it answers an HTTP API with payload 2.0: a simple response or an IAM policy.
    aws_routes: dict[str, Any] = Field(default_factory=dict)
    aws_http_api_response: Literal["simple", "iam"] = "simple"
    provisioning_steps: list[str] = Field(default_factory=list)
    # Who runs provisioning: `inline` (in the process that registered, the embedded default)
    # or `temporal` (a workflow on a Temporal server, run by `tenantry worker`; the `temporal`
    # extra).
    workflows: Literal["inline", "temporal"] = "inline"
    temporal_address: str = Field("127.0.0.1:7233", min_length=1)
    temporal_namespace: str = Field("default", min_length=1)
    temporal_task_queue: str = Field("tenantry-provisioning", min_length=1)
    # Attempts of each provisioning step on Temporal before the organisation is FAILED.
    temporal_step_attempts: int = Field(3, ge=1, le=100)
    # How long one attempt of a step may run before Temporal tries it again (on another worker,
    # if the one running it died).
    temporal_step_timeout_seconds: float = Field(300.0, gt=0)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Proxies whose X-Forwarded-For is believed for the client address (throttling, sessions).
    # None trusts no proxy: the address is the TCP peer, whatever a header claims.
    forwarded_allow_ips: str | None = None
    # /docs, /redoc and /openapi.json; None: served outside production only.
    docs_enabled: bool | None = None
    # GET /metrics (Prometheus); None: served outside production only. With a token, a scrape
    # must send it as `Authorization: Bearer …`.
    metrics_enabled: bool | None = None
    metrics_token: SecretStr | None = None
    log_json: bool | None = None
    # Issuers whose tokens POST /v1/authorize accepts besides tenantry's own: a JSON list, or
    # the path of a JSON file holding it (docs/external-issuers.md).
    trusted_issuers: Annotated[list[TrustedIssuer], NoDecode] = Field(default_factory=list)

    # The audit archive (docs/audit-archive.md): where `tenantry audit archive` writes, a
    # file:///abs/dir or s3://bucket/prefix. None: the folder ./tenantry-archive.
    audit_archive_url: str | None = None
    # Another S3 than AWS's (MinIO, moto): its URL, reached with path-style bucket names.
    audit_s3_endpoint_url: str | None = None
    audit_s3_connect_timeout_seconds: float = Field(5.0, gt=0, le=300)
    audit_s3_read_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # Attempts per S3 request, the first included (botocore's standard retry mode).
    audit_s3_max_attempts: int = Field(5, ge=1, le=20)

    @field_validator("audit_archive_url")
    @classmethod
    def _archive_url_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("file:///", "s3://")):
            raise ValueError(f"{url!r} is neither file:///abs/dir nor s3://bucket/prefix")
        return url

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _read_trusted_issuers(cls, value: Any) -> Any:
        return _trusted_issuers_document(value)

    @field_validator("trusted_issuers")
    @classmethod
    def _each_issuer_once(cls, trusted: list[TrustedIssuer]) -> list[TrustedIssuer]:
        names = [issuer.issuer for issuer in trusted]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"names {', '.join(twice)} twice: one entry an issuer")
        return trusted

    @model_validator(mode="after")
    def _not_our_own_issuer(self) -> Settings:
        if self.token_issuer in {trusted.issuer for trusted in self.trusted_issuers}:
            raise ValueError(
                f"TENANTRY_TRUSTED_ISSUERS names tenantry's own issuer ({self.token_issuer})"
            )
        return self

    @property
    def is_dynamo(self) -> bool:
        return self.database_url.startswith(f"{DYNAMO_SCHEME}:")

    @property
    def bulk_invitation_max(self) -> int:
        """Rows one bulk invitation may hold, as set or as the store allows."""
        if self.invitation_bulk_max is not None:
            return self.invitation_bulk_max
        return DYNAMO_BULK_INVITATION_MAX if self.is_dynamo else SQL_BULK_INVITATION_MAX

    @model_validator(mode="after")
    def _bulk_invitation_fits_one_transaction(self) -> Settings:
        if self.is_dynamo and self.bulk_invitation_max > DYNAMO_BULK_INVITATION_MAX:
            raise ValueError(
                f"TENANTRY_INVITATION_BULK_MAX is at most {DYNAMO_BULK_INVITATION_MAX} on "
                "DynamoDB: a bulk invitation is one transaction, which holds 100 items"
            )
        return self

    @model_validator(mode="after")
    def _soft_limit_within_the_hard_one(self) -> Settings:
        if self.login_account_soft_limit > self.login_failures_per_account:
            raise ValueError(
                "TENANTRY_LOGIN_ACCOUNT_SOFT_LIMIT must not exceed "
                "TENANTRY_LOGIN_FAILURES_PER_ACCOUNT (the hard per-account limit)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        if self.secret_key is None or len(self.secret_key.get_secret_value()) < 32:
            raise ValueError(
                "TENANTRY_SECRET_KEY of at least 32 characters is required in production"
            )
        if not (self.public_url or "").startswith("https://"):
            raise ValueError("TENANTRY_PUBLIC_URL must be https in production")
        if self.argon2_memory_kib < 19_456 or self.argon2_time_cost < 2:
            raise ValueError("argon2 parameters below the OWASP floor are refused in production")
        if self.mailer == "console":
            raise ValueError(
                "TENANTRY_MAILER=console prints live sign-in links into the logs; "
                "use smtp, ses or files in production"
            )
        if self.mailer == "smtp" and self.smtp_username and self.smtp_tls == "none":
            raise ValueError("SMTP credentials without TLS are refused in production")
        return self

    def resolved_public_url(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
        """TENANTRY_PUBLIC_URL, or else the URL of a server listening on `host`:`port` (a
        wildcard address is reached on loopback); without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return listening_url(host, port)

    @property
    def token_issuer(self) -> str:
        return self.issuer or self.resolved_public_url()

    @property
    def resolved_audit_archive_url(self) -> str:
        """TENANTRY_AUDIT_ARCHIVE_URL, or else the folder ./tenantry-archive as a file URL."""
        return self.audit_archive_url or Path("./tenantry-archive").resolve().as_uri()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def allows_special_use_email_domains(self) -> bool:
        if self.allow_special_use_email_domains is not None:
            return self.allow_special_use_email_domains
        return self.env is not Environment.PRODUCTION

    @property
    def serves_docs(self) -> bool:
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.env is not Environment.PRODUCTION

    @property
    def serves_metrics(self) -> bool:
        if self.metrics_enabled is not None:
            return self.metrics_enabled
        return self.env is not Environment.PRODUCTION

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.env is Environment.PRODUCTION
