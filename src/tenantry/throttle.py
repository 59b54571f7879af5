"""Login throttling on the `limits` library: in memory by default, Redis when configured.

Per account, every attempt counts the moment it starts and a success wipes the count, so
only consecutive failures add up; per client address, only failures count (many people may
share one address). Over either limit even a correct password is refused until the window
moves on: that is the point.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LimitsLoginThrottle:
    def __init__(
        self,
        storage_uri: str,
        *,
        per_account: int,
        per_ip: int,
        window_seconds: int,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._items: dict[str, RateLimitItem] = {
            "account": RateLimitItemPerSecond(per_account, window_seconds),
            "ip": RateLimitItemPerSecond(per_ip, window_seconds),
        }

    def begin_attempt(self, *, email: str, ip_address: str | None) -> int | None:
        if ip_address and not self._limiter.test(self._items["ip"], "ip", ip_address):
            return self._wait("ip", ip_address)
        # `hit` checks and counts in one step (a Lua script on Redis), so attempts running in
        # parallel cannot all pass a check made before any of them is counted.
        if not self._limiter.hit(self._items["account"], "account", email):
            return self._wait("account", email)
        return None

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        if ip_address:
            self._limiter.hit(self._items["ip"], "ip", ip_address)

    def reset(self, *, email: str) -> None:
        self._limiter.clear(self._items["account"], "account", email)

    def _wait(self, kind: str, value: str) -> int:
        reset_at = self._limiter.get_window_stats(self._items[kind], kind, value).reset_time
        return max(1, math.ceil(reset_at - time.time()))
