"""Development logs are coloured on a terminal and plain anywhere else (a file, a pipe)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import pytest
import structlog

from tenantry.logging import configure_logging, log_to_stderr

ANSI = "\x1b["


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _defaults_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    yield
    structlog.reset_defaults()


def logged_to(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging(as_json=False)
    structlog.get_logger().warning("keys.generated", alg="ES256")
    return stream.getvalue()


def test_a_log_written_to_a_file_is_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    line = logged_to(io.StringIO(), monkeypatch)

    assert ANSI not in line
    assert "[warning  ] keys.generated" in line
    assert "alg=ES256" in line


def test_a_log_on_a_terminal_is_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSI in logged_to(Terminal(), monkeypatch)


def test_no_color_and_force_color_override_the_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert ANSI not in logged_to(Terminal(), monkeypatch)

    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ANSI in logged_to(io.StringIO(), monkeypatch)


def test_a_cached_logger_writes_to_the_stream_that_is_standard_output_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A CLI runner swaps sys.stdout for each command and closes its own afterwards.
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    configure_logging(as_json=True)
    log = structlog.get_logger()
    log.info("first.command")
    first.close()
    monkeypatch.setattr(sys, "stdout", second)

    log.info("second.command")

    assert '"event": "second.command"' in second.getvalue()


def test_log_to_stderr_leaves_standard_output_to_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    configure_logging(as_json=True)
    log_to_stderr()

    structlog.get_logger().info("while.printing.json")

    assert out.getvalue() == ""
    assert "while.printing.json" in err.getvalue()
