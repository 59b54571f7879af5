"""What every benchmark script shares: the machine it ran on, and its section of
docs/benchmarks.md (between its own markers, so scripts never overwrite one another)."""

from __future__ import annotations

import platform
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def replace_section(script: str, heading: str, lines: list[str], report: Path = REPORT) -> None:
    """Rewrite `script`'s part of the report and keep the rest; a first run appends it
    under `heading`."""
    begin, end = f"<!-- {script}: begin -->", f"<!-- {script}: end -->"
    text = report.read_text() if report.exists() else "# Benchmarks\n"
    section = "\n".join([begin, *lines, end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n" + section + "\n"
    report.write_text(text)
