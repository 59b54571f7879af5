"""The audit archive in an S3 bucket (`s3://bucket/prefix`), through boto3 (the `aws` extra).

Objects are created with `If-None-Match: *`, so S3 refuses (412) to overwrite one. A 412
after a retry is the normal end of a write whose first answer was lost: the object is read
back and compared, so a retry never fails a write that happened, and never hides one whose
bytes differ. Requests are retried by botocore (standard mode: throttling, 5xx, timeouts,
dropped connections) within the attempts and timeouts the settings give.

Credentials and region come from the usual AWS chain (environment, profile, instance role);
`TENANTRY_AUDIT_S3_ENDPOINT_URL` points at another S3 (MinIO, moto) with path-style URLs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tenantry.archive.ports import archive_unavailable, checked_key, object_differs
from tenantry.domain.errors import Invalid, Unavailable
from tenantry.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REFUSED_AS_EXISTING = {"409", "412"}  # ConditionalRequestConflict, PreconditionFailed


class S3Archive:
    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}"

    def put_if_absent(self, key: str, data: bytes) -> bool:
        name = self._name(key)
        try:
            self._client.put_object(Bucket=self._bucket, Key=name, Body=data, IfNoneMatch="*")
            return True
        except _aws_errors() as error:
            if _status(error) not in _REFUSED_AS_EXISTING:
                raise _failed(f"write {key}", error) from error
        existing = self.get(key)
        if existing == data:
            return False
        if existing is None:  # 409: a write of the same key is still in progress
            raise archive_unavailable(f"write {key}", "another write of it was in progress")
        raise object_differs(key)

    def get(self, key: str) -> bytes | None:
        try:
            found = self._client.get_object(Bucket=self._bucket, Key=self._name(key))
            return found["Body"].read()
        except _aws_errors() as error:
            if _status(error) == "404":
                return None
            raise _failed(f"read {key}", error) from error

    def list(self, prefix: str) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2")
        try:
            names = [
                item["Key"]
                for page in pages.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix)
                for item in page.get("Contents", [])
            ]
        except _aws_errors() as error:
            raise _failed(f"list {prefix}", error) from error
        return sorted(name.removeprefix(self._prefix) for name in names)

    def _name(self, key: str) -> str:
        return self._prefix + checked_key(key)


def s3_archive(bucket: str, prefix: str, settings: Settings) -> S3Archive:
    """The archive at `s3://bucket/prefix`; `aws_extra_missing` without boto3."""
    if not _BUCKET.fullmatch(bucket):
        raise Invalid(f"{bucket!r} is not an S3 bucket name", code="invalid_archive_url")
    prefix = prefix.strip("/")
    if prefix:
        checked_key(prefix)
    return S3Archive(_client(settings), bucket, prefix)


def _client(settings: Settings) -> S3Client:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as error:
        raise Unavailable(
            "archiving to S3 needs boto3: pip install 'tenantry[aws]'", code="aws_extra_missing"
        ) from error
    options: dict[str, Any] = {
        "connect_timeout": settings.audit_s3_connect_timeout_seconds,
        "read_timeout": settings.audit_s3_read_timeout_seconds,
        "retries": {"mode": "standard", "total_max_attempts": settings.audit_s3_max_attempts},
    }
    if settings.audit_s3_endpoint_url:
        options["s3"] = {"addressing_style": "path"}  # MinIO and moto serve no bucket hosts
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=settings.audit_s3_endpoint_url, config=Config(**options)
    )


def _aws_errors() -> tuple[type[Exception], ...]:
    # Imported when an error is caught: botocore is there, or no client could be made.
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _status(error: Exception) -> str | None:
    """The HTTP status of a botocore `ClientError`; None for anything else (a timeout, a
    dropped connection: botocore's retries are spent)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    if code in ("NoSuchKey", "NotFound"):
        return "404"
    return str(status) if status is not None else None


def _failed(what: str, error: Exception) -> Unavailable:
    # botocore's messages name the operation and the cause, never a credential.
    return archive_unavailable(what, f"{type(error).__name__}: {error}")
