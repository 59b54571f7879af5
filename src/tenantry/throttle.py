"""Login throttling on the `limits` library: in memory by default, Redis when configured.

Per account, every attempt counts the moment it starts and a success wipes the count, so
only consecutive failures add up; per client address, only failures count (many people may
share one address). Over either limit even a correct password is refused until the window
moves on: that is the point.

Time is the injected clock's. Windows are fixed spans of `window_seconds` counted from the
Unix epoch, so every instance sharing a Redis agrees on them. A lock lifts when its window
ends, and a burst straddling the end of one window can reach twice a limit.
"""

from __future__ import annotations

import math

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from tenantry.clock import Clock, SystemClock

# How long a window's counter outlives the window, in real time, before the storage drops it.
# Only its key decides which window it counts, so a clock that runs slow or stands still (a
# test's) must not lose it early; after that it is garbage.
_KEPT_PAST_WINDOW_SECONDS = 3600


class LimitsLoginThrottle:
    def __init__(
        self,
        storage_uri: str,
        *,
        per_account: int,
        per_ip: int,
        window_seconds: int,
        clock: Clock | None = None,
    ) -> None:
        # `limits` takes no clock: its moving and sliding windows read `time.time()` (and
        # Redis its own time) inside the storage. So the window is chosen here, from our clock,
        # and named in the key; `limits` only counts within it, as a fixed-window counter whose
        # check-and-count is one step (a Lua script on Redis, a lock in memory).
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))
        self._clock = clock or SystemClock()
        self._window_seconds = window_seconds
        kept = window_seconds + _KEPT_PAST_WINDOW_SECONDS
        self._items: dict[str, RateLimitItem] = {
            "account": RateLimitItemPerSecond(per_account, kept),
            "ip": RateLimitItemPerSecond(per_ip, kept),
        }

    def begin_attempt(self, *, email: str, ip_address: str | None) -> int | None:
        window, seconds_left = self._current_window()
        if ip_address and not self._limiter.test(self._items["ip"], "ip", ip_address, window):
            return seconds_left
        # `hit` checks and counts in one step, so attempts running in parallel cannot all pass
        # a check made before any of them is counted. A refused hit still adds one, which
        # only keeps the account over its limit until the same window ends.
        if not self._limiter.hit(self._items["account"], "account", email, window):
            return seconds_left
        return None

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        if ip_address:
            window, _ = self._current_window()
            self._limiter.hit(self._items["ip"], "ip", ip_address, window)

    def reset(self, *, email: str) -> None:
        window, _ = self._current_window()
        self._limiter.clear(self._items["account"], "account", email, window)

    def _current_window(self) -> tuple[str, int]:
        """The window the clock is in, as a key part, and the whole seconds until it ends."""
        now = self._clock.now().timestamp()
        index = math.floor(now / self._window_seconds)
        seconds_left = math.ceil((index + 1) * self._window_seconds - now)
        return str(index), max(1, seconds_left)
