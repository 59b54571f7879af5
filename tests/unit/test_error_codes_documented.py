"""docs/errors.md stays true: every problem code tenantry can raise is listed there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Codes that services catch and turn into another refusal before any client sees them.
NEVER_SENT = {"refresh_token_used", "session_revoked", "already_member"}


def raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "src" / "tenantry").rglob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'code="([a-z_]+)"', text))
        # Preconditions name their code positionally: insert_or_conflict / require_one_row.
        codes |= set(re.findall(r'(?:insert_or_conflict|require_one_row)\([^"]*"([a-z_]+)"', text))
        codes |= set(re.findall(r'\d{3}: "([a-z_]+)"', text))  # http/errors.py status map
        codes |= set(re.findall(r'_problem\(\s*scope, send, \d{3}, "([a-z_]+)"', text))
        codes |= set(re.findall(r'problem_response\(\s*request, \d{3}, "([a-z_]+)"', text))
        if path.name == "errors.py" and path.parent.name == "domain":
            codes |= set(re.findall(r'^    code = "([a-z_]+)"', text, re.MULTILINE)) - {"error"}
    return codes - NEVER_SENT


def documented_codes() -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "errors.md").read_text()))


def test_every_code_tenantry_raises_is_documented() -> None:
    raised = raised_codes()
    assert {"slug_taken", "email_taken", "malformed_json", "payload_too_large"} <= raised
    assert {"validation_failed", "internal_error", "rate_limited"} <= raised
    assert raised - documented_codes() == set()
