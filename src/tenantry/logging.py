"""structlog set-up: readable lines in development, JSON lines in production."""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal, TextIO, cast

import structlog


def configure_logging(*, as_json: bool, level: int = logging.INFO) -> None:
    # Tracebacks never show local variables: they would print passwords and tokens.
    colours = wants_colours(sys.stdout)  # structlog's default logger writes to stdout
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=colours,
            exception_formatter=structlog.dev.RichTracebackFormatter(
                color_system="truecolor" if colours else None, show_locals=False
            ),
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if as_json
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(standard_stream("stdout")),
        cache_logger_on_first_use=True,
    )


def log_to_stderr() -> None:
    """Log lines go to standard error, so that standard output carries one document."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(standard_stream("stderr")))


def standard_stream(name: Literal["stdout", "stderr"]) -> TextIO:
    # PrintLogger only writes and flushes, which is all StandardStream does.
    return cast(TextIO, StandardStream(name))


class StandardStream:
    """`sys.stdout` or `sys.stderr` as it is at each write. A cached logger keeps the file it
    was made with, and `sys.stdout` is not always the same object for the life of the process
    (a CLI test runner swaps it for each command and closes its own afterwards)."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self.name)
        return stream


def wants_colours(stream: TextIO) -> bool:
    """ANSI colours only for a terminal, so a log file or a pipe gets plain text; `NO_COLOR`
    and `FORCE_COLOR` (no-color.org, force-color.org) override the guess."""
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
