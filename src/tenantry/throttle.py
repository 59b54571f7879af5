"""The throttle (`LoginThrottle`) on the storages of the `limits` library: in memory by
default, Redis when configured, so that every instance sharing a Redis counts together.

A password attempt (a login, or the current password on `POST /v1/me/password`) meets three
limits; docs/security.md ("Throttling") gives the figures and the reasons.

- **The pair** (account, client address), one per purpose: tight. Every attempt counts the
  moment it starts and a right password clears the pair, so it counts consecutive failures.
- **The account**, from addresses that are not usual for it: loose. Every attempt counts as it
  starts, and one whose password proves right is given back. Up to a soft limit the attempts
  pass; beyond it the account earns each further attempt only after a growing delay (1 s, 2 s,
  4 s, ... at most `window_seconds` apart), counted from when the soft limit was reached, up
  to a hard limit. The first attempt beyond the soft limit warns the owner.
- **The address**: failed logins from it, whatever the account (credential stuffing).

An address is usual for an account once a login from it has succeeded, and stays so for one to
two `usual_address_seconds` periods. From a usual address only the pair limit applies: someone
trying passwords elsewhere can never lock the owner out of it.

Requests that send an email (sign-up, password-reset request, verification resend) are
counted per email and per client address.

Time is the injected clock's. Windows are fixed spans counted from the Unix epoch, named in
each counter's key, so every instance agrees on them; `limits` only counts, with a
check-and-count that is one step (`incr`: a Lua script on Redis, a lock in memory). A lock
lifts when its window ends, and a burst straddling the end of a window can reach twice a
limit. Emails and addresses are hashed into the keys: the storage holds no address.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from limits.storage import Storage, storage_from_string

from tenantry.clock import Clock, SystemClock
from tenantry.sessions.ports import AttemptPurpose, AttemptVerdict, ThrottleLimit

# How long a counter outlives its window, in real time, before the storage drops it. Only its
# key decides which window it counts, so a clock that runs slow or stands still (a test's)
# must not lose it early; after that it is garbage.
_KEPT_PAST_WINDOW_SECONDS = 3600
# The account's epoch (moved on by a password reset) must outlive every counter named by it.
_EPOCH_KEPT_SECONDS = 400 * 86_400


@dataclass(frozen=True, slots=True)
class ThrottleFigures:
    """The limits, as `TENANTRY_*` settings give them (docs/configuration.md)."""

    window_seconds: int = 900  # of the pair and address limits; the longest progressive delay
    per_pair: int = 5
    per_ip: int = 50
    account_window_seconds: int = 86_400
    account_soft_limit: int = 10
    per_account: int = 100
    usual_address_seconds: int = 30 * 86_400
    mail_window_seconds: int = 3_600
    mail_per_email: int = 5
    mail_per_ip: int = 30


@dataclass(frozen=True, slots=True)
class _Window:
    index: int  # which window, counted from the Unix epoch
    offset: int  # whole seconds since it began
    left: int  # whole seconds until it ends, at least 1


def _window(now: float, seconds: int) -> _Window:
    index = math.floor(now / seconds)
    start = index * seconds
    return _Window(index, math.floor(now - start), max(1, math.ceil(start + seconds - now)))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def delay_before(extra: int, longest: int) -> int:
    """Seconds from reaching the soft limit until the `extra`-th attempt beyond it is due:
    1 + 2 + 4 + ..., each step at most `longest`."""
    doubling = (longest - 1).bit_length()  # the steps 1, 2, 4, ... shorter than `longest`
    if extra <= doubling:
        return (1 << extra) - 1
    return (1 << doubling) - 1 + longest * (extra - doubling)


class LimitsLoginThrottle:
    def __init__(
        self,
        storage_uri: str,
        figures: ThrottleFigures | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        # `limits` takes no clock: its moving and sliding windows read `time.time()` (and
        # Redis its own time) inside the storage. So windows are chosen here, from our clock,
        # and named in the keys; the storage only counts.
        storage = storage_from_string(storage_uri)
        if not isinstance(storage, Storage):  # an `async+…` URI
            raise ValueError(f"the throttle needs a synchronous storage, not {storage_uri!r}")
        self._storage = storage
        self._figures = figures or ThrottleFigures()
        self._clock = clock or SystemClock()

    # --- password attempts -----------------------------------------------------------------

    def begin_attempt(
        self,
        *,
        email: str,
        ip_address: str | None,
        purpose: AttemptPurpose = AttemptPurpose.LOGIN,
    ) -> AttemptVerdict:
        figures, now, account = self._figures, self._now(), _digest(email)
        epoch = self._epoch(account)
        short = _window(now, figures.window_seconds)
        pair = self._pair_key(account, epoch, ip_address, purpose, short)
        if self._storage.get(pair) >= figures.per_pair:
            return AttemptVerdict(short.left, ThrottleLimit.PAIR)
        usual = self._is_usual(account, ip_address, now)
        if not usual and purpose is AttemptPurpose.LOGIN and self._over_at(ip_address, short):
            return AttemptVerdict(short.left, ThrottleLimit.ADDRESS)
        warn = False
        if not usual:
            wait, warn = self._count_against_account(account, epoch, now)
            if wait is not None:
                return AttemptVerdict(wait, ThrottleLimit.ACCOUNT, warn)
        # Check-and-count in one step: attempts running in parallel cannot all pass a check
        # made before any of them was counted.
        if self._count(pair, figures.window_seconds) > figures.per_pair:
            return AttemptVerdict(short.left, ThrottleLimit.PAIR, warn)
        return AttemptVerdict(warn_owner=warn)

    def record_failure(self, *, email: str, ip_address: str | None) -> None:
        if ip_address:
            window = _window(self._now(), self._figures.window_seconds)
            self._count(self._ip_key(ip_address, window), self._figures.window_seconds)

    def record_success(
        self,
        *,
        email: str,
        ip_address: str | None,
        purpose: AttemptPurpose = AttemptPurpose.LOGIN,
    ) -> None:
        now, account = self._now(), _digest(email)
        epoch = self._epoch(account)
        window = _window(now, self._figures.window_seconds)
        self._storage.clear(self._pair_key(account, epoch, ip_address, purpose, window))
        if not self._is_usual(account, ip_address, now):
            self._give_back(account, epoch, now)
        if purpose is AttemptPurpose.LOGIN and ip_address:
            period = self._figures.usual_address_seconds
            key = self._usual_key(account, ip_address, _window(now, period).index)
            self._storage.incr(key, 2 * period + _KEPT_PAST_WINDOW_SECONDS)

    def reset(self, *, email: str) -> None:
        # Every pair and account counter names the account's epoch: a new epoch starts them
        # all afresh without knowing which addresses tried.
        self._storage.incr(self._epoch_key(_digest(email)), _EPOCH_KEPT_SECONDS)

    # --- requests that send an email -------------------------------------------------------

    def begin_mail_request(self, *, email: str, ip_address: str | None) -> int | None:
        figures = self._figures
        window = _window(self._now(), figures.mail_window_seconds)
        counters = [(f"tenantry/mail/{_digest(email)}/{window.index}", figures.mail_per_email)]
        if ip_address:
            key = f"tenantry/mail-ip/{_digest(ip_address)}/{window.index}"
            counters.append((key, figures.mail_per_ip))
        if any(self._storage.get(key) >= limit for key, limit in counters):
            return window.left
        counted = [self._count(key, figures.mail_window_seconds) for key, _ in counters]
        if any(count > limit for count, (_, limit) in zip(counted, counters, strict=True)):
            return window.left
        return None

    # --- the account limit -----------------------------------------------------------------

    def _count_against_account(
        self, account: str, epoch: int, now: float
    ) -> tuple[int | None, bool]:
        """Count an attempt from an address that is not usual for the account: the seconds to
        wait (None: go ahead), and whether the owner is to be warned (this is the window's
        first attempt beyond the soft limit, whatever becomes of it)."""
        figures = self._figures
        window = _window(now, figures.account_window_seconds)
        count_key, since_key, warned_key = self._account_keys(account, epoch, window)
        seen = self._storage.get(count_key)
        warn = seen >= figures.account_soft_limit and self._first(warned_key)
        if seen >= figures.per_account:
            return window.left, warn
        if seen >= figures.account_soft_limit:
            wait = self._wait_for(since_key, seen + 1, window)
            if wait is not None:
                return wait, warn
        attempt = self._count(count_key, figures.account_window_seconds)
        if attempt == figures.account_soft_limit and self._storage.get(since_key) == 0:
            # Note when the soft limit was reached: the delays beyond it count from then.
            kept = figures.account_window_seconds + _KEPT_PAST_WINDOW_SECONDS
            self._storage.incr(since_key, kept, amount=window.offset + 1)
        if attempt > figures.account_soft_limit and seen < figures.account_soft_limit:
            warn = self._first(warned_key)  # raced past the soft limit since the peek
        if attempt > figures.per_account:
            return window.left, warn
        if attempt > figures.account_soft_limit:
            return self._wait_for(since_key, attempt, window), warn
        return None, warn

    def _give_back(self, account: str, epoch: int, now: float) -> None:
        """A counted attempt proved the password: it was not a guess."""
        window = _window(now, self._figures.account_window_seconds)
        count_key, _, _ = self._account_keys(account, epoch, window)
        if self._storage.get(count_key) > 0:
            self._storage.incr(count_key, self._figures.account_window_seconds, amount=-1)

    def _first(self, key: str) -> bool:
        """True for the first caller in the window: a check-and-count, as every limit."""
        return self._count(key, self._figures.account_window_seconds) == 1

    def _wait_for(self, since_key: str, attempt: int, window: _Window) -> int | None:
        """Seconds until the window's `attempt`-th attempt (beyond the soft limit) is due."""
        noted = self._storage.get(since_key)
        if noted == 0:  # the attempt that reached the soft limit has not noted its time yet
            return 1
        extra = attempt - self._figures.account_soft_limit
        due = noted - 1 + delay_before(extra, self._figures.window_seconds)
        wait = due - window.offset
        return min(wait, window.left) if wait > 0 else None

    # --- keys ------------------------------------------------------------------------------

    def _pair_key(
        self,
        account: str,
        epoch: int,
        ip_address: str | None,
        purpose: AttemptPurpose,
        window: _Window,
    ) -> str:
        address = _digest(ip_address) if ip_address else "-"
        return f"tenantry/pair/{purpose}/{account}/{epoch}/{address}/{window.index}"

    def _account_keys(self, account: str, epoch: int, window: _Window) -> tuple[str, str, str]:
        """The account's attempts in the window, when it reached the soft limit, and whether
        its owner was warned."""
        name = f"{account}/{epoch}/{window.index}"
        return (
            f"tenantry/account/{name}",
            f"tenantry/account-soft/{name}",
            f"tenantry/account-warned/{name}",
        )

    def _ip_key(self, ip_address: str, window: _Window) -> str:
        return f"tenantry/ip/{_digest(ip_address)}/{window.index}"

    def _usual_key(self, account: str, ip_address: str, period: int) -> str:
        return f"tenantry/usual/{account}/{_digest(ip_address)}/{period}"

    def _epoch_key(self, account: str) -> str:
        return f"tenantry/epoch/{account}"

    def _is_usual(self, account: str, ip_address: str | None, now: float) -> bool:
        """A login from the address succeeded in this usual-address period or the last."""
        if not ip_address:
            return False
        period = _window(now, self._figures.usual_address_seconds).index
        return any(
            self._storage.get(self._usual_key(account, ip_address, p)) > 0
            for p in (period, period - 1)
        )

    def _over_at(self, ip_address: str | None, window: _Window) -> bool:
        """Whether the address has used up its failed logins in this window."""
        if not ip_address:
            return False
        return self._storage.get(self._ip_key(ip_address, window)) >= self._figures.per_ip

    def _epoch(self, account: str) -> int:
        return self._storage.get(self._epoch_key(account))

    def _count(self, key: str, window_seconds: int) -> int:
        return self._storage.incr(key, window_seconds + _KEPT_PAST_WINDOW_SECONDS)

    def _now(self) -> float:
        return self._clock.now().timestamp()
