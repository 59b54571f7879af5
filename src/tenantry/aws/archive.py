"""`tenantry.aws.archive.handler`: the audit archive of a Lambda deployment, for a daily
EventBridge schedule to invoke. It does what `tenantry audit archive` does: every chain's
events of the days that are over go to the archive (`TENANTRY_AUDIT_ARCHIVE_URL`, an
`s3://bucket/prefix` there) with one signed digest, and returns what it wrote. A run that
finds nothing new writes nothing; a chain that does not verify is archived up to its break,
and the answer names it."""

from __future__ import annotations

from typing import Any

import structlog

from tenantry.archive import open_archive
from tenantry.audit.archive import archive_audit
from tenantry.aws.outbox import from_environment
from tenantry.bootstrap import Tenantry

log = structlog.get_logger()


def run_archive(tenantry: Tenantry) -> dict[str, Any]:
    archive = open_archive(tenantry.settings.resolved_audit_archive_url, tenantry.settings)
    run = archive_audit(tenantry, archive)
    done = {
        "archive": run.archive,
        "until": run.until.isoformat(),
        "digest": run.digest,
        "objects": len(run.objects),
        "written": run.written,
        "broken": [brk.chain_id for brk in run.broken],
    }
    log.info("audit_archived", **done)
    return done


_warm: Tenantry | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`tenantry.aws.archive.handler`); the event is not read."""
    global _warm  # the warm container's one tenantry, built on first use
    if _warm is None:
        _warm = from_environment()
    return run_archive(_warm)
