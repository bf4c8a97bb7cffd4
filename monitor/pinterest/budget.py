"""A request budget per token-user: the whole of Pinterest's quota, and not one request more.

Pinterest counts a token-user's requests per fixed window (``ads_read``: 1,000 a minute on
the standard tier), shared by every ad account that token reaches, under an overall ceiling
of 100 requests a second, and tells where the window stands in every answer:
``x-ratelimit-limit``, ``-remaining`` and ``-reset``. The budget spends exactly that:

- never more than ``limit`` requests in any ``window_s`` of its own (a sliding log), nor
  more than ``per_second`` in any second, so it is safe whatever the server's window
  alignment, and a steady poller uses the whole quota;
- never more requests in flight than the server says remain: every answer's
  ``remaining``, less the requests still in flight (which it may not have counted yet),
  bounds what may be sent until the window resets; before any answer (a restart in the
  middle of a spent window), one request goes first to find out;
- the server's ``limit`` replaces the configured one once it is known: a config set too
  high is not a licence for 429s, one set too low does not waste the quota.

A 429 (another app of the same user, a replica without a shared budget) pauses every
request of the token until the window resets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Protocol

import anyio
import structlog

if TYPE_CHECKING:
    from monitor.pinterest.retry import RateLimit

log = structlog.get_logger("monitor.pinterest.budget")

#: Pinterest's overall ceiling, per user and app, whatever the category.
PER_SECOND: Final = 100
#: The per-second ceiling is kept over a second and this much: the server counts
#: arrivals, and two requests sent a second apart may arrive closer than that.
CEILING_SLACK_S: Final = 0.1
#: Two answers whose window resets this far apart belong to different windows (the
#: header is whole seconds, so one window's answers disagree by up to one).
_SAME_WINDOW_S: Final = 1.5


def bucket_shape(limit: int, window_s: float) -> tuple[int, float]:
    """Burst size and refill rate of a token bucket that never exceeds ``limit`` in any
    ``window_s``: a tenth of it as burst, the rest spread evenly (a full-size bucket would
    allow twice the quota in a window). Used where the budget is a bucket in a database
    (replicas sharing a token), which cannot follow the server's window."""
    capacity = max(1, limit // 10)
    return capacity, max(limit - capacity, 1) / window_s


class Budget(Protocol):
    """What the transport needs from a budget: local (:class:`RateBudget`) or shared."""

    async def acquire(self) -> None:
        """Wait until one request may be sent, and count it as in flight."""
        ...

    def release(self, seen: RateLimit | None) -> None:
        """The request acquired last-but-not-released is over; ``seen`` is its answer's
        rate-limit headers (None: no answer, or none in it)."""
        ...

    def pause(self, seconds: float) -> None:
        """Send nothing for a while: the quota is exhausted."""
        ...


class RateBudget:
    """The budget of one token-user in this process (see the module docstring).

    Args:
        limit: Requests allowed per window, until the server says otherwise.
        window_s: The window length in seconds.
        per_second: The overall ceiling per second.
        max_pause_s: Cap on a wait for the server's window to reset (a daily window's
            reset can be ~67,000 s; after the cap one request is tried again).
        now: Monotonic clock (injected in tests).
        sleep: Sleep function (injected in tests).
    """

    def __init__(
        self,
        limit: int = 1000,
        window_s: float = 60.0,
        *,
        per_second: int = PER_SECOND,
        max_pause_s: float = 900.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0 or per_second < 1:
            raise ValueError("a budget needs a positive limit, window and ceiling")
        self.limit = limit
        self._window_s = window_s
        self._per_second = per_second
        self._max_pause_s = max_pause_s
        self._now = now
        self._sleep = sleep
        self._sent: deque[float] = deque()  # send times within the last window
        self._in_flight = 0
        #: Requests the server still allows before ``_reset_at``; None: not told yet.
        self._remaining: int | None = None
        self._reset_at: float | None = None
        # Until an answer says otherwise the server is assumed to tell (Pinterest does):
        # then, not knowing what remains, one request goes first to find out.
        self._server_tells = True
        self._paused_until = 0.0
        self._lock = anyio.Lock()
        self._released = anyio.Event()
        self._answer_awaited = False
        self.waited_s = 0.0

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return self._in_flight

    async def acquire(self) -> None:
        """Wait until one request may be sent, and count it.

        Waiters queue behind one lock, so the budget is spent in arrival order.
        """
        if not self._lock.locked() and self._take(self._now()):
            # Nobody is queued and the budget allows it: no lock round trip (the common
            # case of a listing's pages, one after another; nothing awaits in between).
            return
        async with self._lock:
            while True:
                now = self._now()
                if self._take(now):
                    return
                wait = self._wait_s(now)
                started = now
                if wait is None:
                    # Only answers can tell: wait for one (or the window to reset).
                    released = self._released
                    self._answer_awaited = True
                    limit = None if self._reset_at is None else max(0.0, self._reset_at - now)
                    with anyio.move_on_after(limit):
                        await released.wait()
                else:
                    await self._sleep(wait)
                self.waited_s += max(0.0, self._now() - started)

    def _take(self, now: float) -> bool:
        """Count one request sent now, if the budget allows one now."""
        if self._wait_s(now) != 0.0:
            return False
        self._in_flight += 1
        self._sent.append(now)
        if self._remaining is not None:
            self._remaining -= 1
        return True

    def _wait_s(self, now: float) -> float | None:
        """0 to send now, seconds to wait, or None to wait for an answer."""
        if now < self._paused_until:
            return self._paused_until - now
        if self._reset_at is not None and now >= self._reset_at:
            # A new window: it starts full, less what is still in flight (which it may
            # count); its first answer says the rest.
            self._remaining, self._reset_at = self.limit - self._in_flight, None
        waits = [0.0]
        if self._remaining is None:
            if self._in_flight and self._server_tells:
                return None  # one request at a time until the server tells
        elif self._remaining < 1:
            # Spent (counting what is in flight): within a window, answers only ever
            # say less remains, so wait for the reset — for at most max_pause_s (a
            # daily window), after which one request goes to find out.
            if self._reset_at is None or self._reset_at - now > self._max_pause_s:
                self._reset_at = now + min(self._window_s, self._max_pause_s)
            waits.append(self._reset_at - now)
        cutoff = now - self._window_s
        while self._sent and self._sent[0] <= cutoff:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            waits.append(self._sent[len(self._sent) - self.limit] + self._window_s - now)
        if len(self._sent) >= self._per_second:
            span = 1.0 + CEILING_SLACK_S
            waits.append(self._sent[len(self._sent) - self._per_second] + span - now)
        return max(waits)

    def release(self, seen: RateLimit | None) -> None:
        """One request is over: believe what its answer said about the window."""
        self._in_flight = max(0, self._in_flight - 1)
        if seen is not None and seen.remaining is not None:
            self._server_tells = True
            self._observe(seen)
        elif seen is None and self._remaining is None:
            # An answer (or a failure) without the headers: this server does not count
            # aloud; only the configured limits apply.
            self._server_tells = False
        if self._answer_awaited:
            # Only a waiter needs the event (an anyio Event per answer costs a backend
            # lookup each): wake it, and give the next one a fresh event.
            self._answer_awaited = False
            self._released.set()
            self._released = anyio.Event()

    def _observe(self, seen: RateLimit) -> None:
        if seen.limit is not None and seen.limit > 0 and seen.limit != self.limit:
            log.info("api.rate_limit_learnt", limit=seen.limit, configured=self.limit)
            self.limit = seen.limit
        assert seen.remaining is not None
        now = self._now()
        reset_at = None if seen.reset_s is None else now + seen.reset_s
        # Requests still in flight may not be counted in this answer yet: assume not.
        left = seen.remaining - self._in_flight
        if reset_at is not None and self._reset_at is not None:
            if reset_at < self._reset_at - _SAME_WINDOW_S:
                return  # an answer from a window that has already ended
            if reset_at <= self._reset_at + _SAME_WINDOW_S and self._remaining is not None:
                # The same window: what remains only goes down (answers arrive out of order).
                left = min(left, self._remaining)
        self._remaining = max(0, left)
        self._reset_at = reset_at if reset_at is not None else self._reset_at
        if self._reset_at is None and self._remaining == 0:
            # Spent, and no word of when it resets: try again after a pause.
            self.pause(self._window_s)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (capped): the quota is exhausted."""
        seconds = min(max(0.0, seconds), self._max_pause_s)
        until = self._now() + seconds
        if until > self._paused_until:
            self._paused_until = until
            log.warning("api.rate_limit_pause", pause_s=round(seconds, 1))
