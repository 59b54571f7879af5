"""Login throttling on the `limits` library: in memory by default, Redis when configured.

Only failures count, so a user who types the password right is never slowed down; after the
limit, even a correct password is refused until the window moves on (that is the point).
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

    def retry_after(self, *, email: str, ip_address: str | None) -> int | None:
        waits = [
            self._wait(kind, value)
            for kind, value in self._keys(email, ip_address)
            if not self._limiter.test(self._items[kind], kind, value)
        ]
        return max(waits) if waits else None

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        for kind, value in self._keys(email, ip_address):
            self._limiter.hit(self._items[kind], kind, value)

    def reset(self, *, email: str) -> None:
        self._limiter.clear(self._items["account"], "account", email)

    def _wait(self, kind: str, value: str) -> int:
        reset_at = self._limiter.get_window_stats(self._items[kind], kind, value).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    @staticmethod
    def _keys(email: str, ip_address: str | None) -> list[tuple[str, str]]:
        keys = [("account", email)]
        if ip_address:
            keys.append(("ip", ip_address))
        return keys
