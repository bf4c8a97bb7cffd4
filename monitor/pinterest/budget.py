"""A request budget per token-user: throttle before Pinterest's limit, not after it.

Pinterest's ``ads_read`` quota (1,000 a minute on the standard tier) is per user and app,
shared by every ad account that token reaches. A token bucket spends one token per
request and refills continuously, so a burst of accounts is smoothed over the window;
the server's own ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` correct it, and a 429
pauses every request of the token until the quota resets.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import structlog

log = structlog.get_logger("monitor.pinterest.budget")


def bucket_shape(limit: int, window_s: float) -> tuple[int, float]:
    """Burst size and refill rate that never exceed ``limit`` in any ``window_s``.

    A bucket of capacity C refilling at r sends at most C + r·W in any window W. Pinterest
    counts requests per window, so C + r·W must not pass the limit: a tenth of it as burst,
    the rest spread evenly (a full-size bucket would allow twice the quota in a window).
    """
    capacity = max(1, limit // 10)
    return capacity, max(limit - capacity, 1) / window_s


class Budget(Protocol):
    """What the transport needs from a budget: local (:class:`RateBudget`) or shared."""

    async def acquire(self) -> None:
        """Wait until one request may be sent, and spend it."""
        ...

    def observe(self, remaining: int | None, reset_s: float | None) -> None:
        """Correct from a response's rate-limit headers."""
        ...

    def pause(self, seconds: float) -> None:
        """Send nothing for a while: the quota is exhausted."""
        ...


class RateBudget:
    """A token bucket: ``limit`` requests per ``window_s``, shared by all concurrent requests.

    Args:
        limit: Requests allowed per window.
        window_s: The window length in seconds.
        max_pause_s: Cap on a pause the server asks for (a daily window's reset can be
            ~67,000 s; beyond the cap the request fails and the next cycle tries again).
        now: Monotonic clock (injected in tests).
        sleep: Sleep function (injected in tests).
    """

    def __init__(
        self,
        limit: int = 1000,
        window_s: float = 60.0,
        *,
        max_pause_s: float = 900.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a budget needs a positive limit and window")
        self.limit = limit
        self.capacity, self._rate = bucket_shape(limit, window_s)
        self._tokens = float(self.capacity)
        self._max_pause_s = max_pause_s
        self._now = now
        self._sleep = sleep
        self._stamp = now()
        self._paused_until = 0.0
        self._lock = anyio.Lock()
        self.waited_s = 0.0

    @property
    def available(self) -> float:
        """Requests that could be sent right now."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until one request may be sent, and spend it.

        Waiters queue behind one lock, so the budget is spent in arrival order and no
        request is sent that the budget says would be refused.
        """
        async with self._lock:
            while True:
                self._refill()
                now = self._now()
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                else:
                    wait = (1.0 - self._tokens) / self._rate
                self.waited_s += wait
                await self._sleep(wait)

    def observe(self, remaining: int | None, reset_s: float | None) -> None:
        """Correct the bucket from a response's rate-limit headers."""
        if remaining is None:
            return
        self._refill()
        # The server counts requests we cannot see (other processes, other apps' use of
        # the same user): never believe we have more than it says.
        self._tokens = min(self._tokens, float(remaining))
        if remaining <= 0 and reset_s is not None:
            self.pause(reset_s)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (capped): the quota is exhausted."""
        seconds = min(max(0.0, seconds), self._max_pause_s)
        until = self._now() + seconds
        if until > self._paused_until:
            self._paused_until = until
            log.warning("api.rate_limit_pause", pause_s=round(seconds, 1))
