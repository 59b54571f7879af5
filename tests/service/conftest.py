"""A tenantry on `memory://`, with a real SMTP server for its mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantry.bootstrap import Tenantry
from tests.harness import Api, Mailbox, StoreTarget, TestClock, build_tenantry, test_settings
from tests.smtp_server import SmtpServer


@pytest.fixture
def memory_api(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Api]:
    target = StoreTarget("memory", "memory://", "memory://")
    tenantry: Tenantry = build_tenantry(test_settings(target, tmp_path), TestClock(), smtp_server)
    yield Api(tenantry, Mailbox(tenantry, smtp_server))
    tenantry.close()
