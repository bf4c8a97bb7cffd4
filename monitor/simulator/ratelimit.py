"""Pinterest-style quotas: a request budget per user per fixed window, told in headers,
and an overall ceiling per second.

Every response carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and
``x-ratelimit-reset`` (whole seconds until the window resets); once the budget is spent
the answer is 429 ``{"code": 8, "message": "Max rate limit exceeded"}`` until it resets.
More than ``per_second`` requests within any second are refused the same way (the
window's headers unchanged: the ceiling is not announced, only enforced).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    """Where one user stands in the current window."""

    limit: int
    remaining: int
    reset_s: int
    allowed: bool = True

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers for a response."""
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_s),
        }


class RateLimiter:
    """Fixed windows per key, starting at the key's first request after the last window.

    Args:
        limit: Requests allowed per window.
        window_s: Window length in seconds, on ``now``.
        now: The injected clock.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        now: Callable[[], float],
        per_second: int | None = None,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.per_second = per_second
        self.now = now
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, used)
        self._recent: dict[str, deque[float]] = {}  # key -> accepted requests' times, 1 s
        #: Requests refused for the per-second ceiling (for tests and benchmarks).
        self.ceiling_refusals = 0

    def _window(self, key: str) -> tuple[float, int]:
        t = self.now()
        start, used = self._windows.get(key, (t, 0))
        if t >= start + self.window_s:
            start, used = t, 0
        return start, used

    def _budget(self, start: float, used: int, *, allowed: bool = True) -> Budget:
        reset_s = max(0, math.ceil(start + self.window_s - self.now()))
        return Budget(self.limit, max(0, self.limit - used), reset_s, allowed)

    def hit(self, key: str) -> Budget:
        """Count one request for ``key``; ``allowed`` is False once the budget is spent."""
        start, used = self._window(key)
        if used >= self.limit:
            self._windows[key] = (start, used)
            return self._budget(start, used, allowed=False)
        if self.per_second is not None:
            now, recent = self.now(), self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.per_second:
                self.ceiling_refusals += 1
                return self._budget(start, used, allowed=False)
            recent.append(now)
        self._windows[key] = (start, used + 1)
        return self._budget(start, used + 1)

    def peek(self, key: str) -> Budget:
        """Where ``key`` stands, without counting a request."""
        return self._budget(*self._window(key))

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()
        self._recent.clear()
