"""The wall clock. Tests inject their own clock instead of sleeping."""

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
