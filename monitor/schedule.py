"""Scheduling maths, pure: when the next cycle starts and when a failed delivery is retried.

:class:`DeliveryRetry` is the one retry policy of the outbox; the Pinterest client's own
(attempts and backoff within one request) is :class:`monitor.pinterest.retry.RetryPolicy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

#: Svix's schedule after the immediate first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
#: About 28 hours in all, long enough to ride out a weekend-long outage of one target is not
#: the goal; riding out a Slack incident or a receiver's deploy is.
RETRY_DELAYS_S: Final = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True, slots=True)
class DeliveryRetry:
    """When a delivery whose send came back :attr:`~monitor.notify.Outcome.RETRY` goes again.

    A fixed schedule (Svix's) with every slot spread by ±``spread``, so that deliveries
    that failed together do not come back together; a target's Retry-After is honoured
    when longer than the slot, up to :attr:`max_wait_s`; after the last slot the
    delivery is dead. (What is retried at all is :func:`monitor.notify.classify`'s call.)

    Attributes:
        delays_s: The wait before each retry, after the immediate first attempt.
        spread: The largest fraction by which a slot is moved either way.
    """

    delays_s: tuple[float, ...] = RETRY_DELAYS_S
    spread: float = 0.1

    def __post_init__(self) -> None:
        if not self.delays_s or min(self.delays_s) <= 0:
            raise ValueError("a retry schedule needs at least one positive delay")
        if not 0 <= self.spread < 1:
            raise ValueError(f"spread must be in [0, 1), not {self.spread}")

    @property
    def max_wait_s(self) -> float:
        """The longest a pending delivery can legitimately wait: the longest slot with
        its spread, which also caps a target's Retry-After."""
        return max(self.delays_s) * (1 + self.spread)

    def exhausted(self, attempts: int) -> bool:
        """Whether a delivery that has failed ``attempts`` times (the last one included)
        has no slot left: it is dead."""
        return attempts < 1 or attempts > len(self.delays_s)

    def retry_at(
        self, attempts: int, now: float, *, retry_after_s: float | None = None, jitter: float = 0.5
    ) -> float | None:
        """When to try a failed delivery again, or ``None`` when it should be dead-lettered.

        Args:
            attempts: Attempts made so far, including the one that just failed.
            now: The current wall-clock time.
            retry_after_s: The target's Retry-After, honoured when longer than the slot.
            jitter: A number in [0, 1) chosen by the caller (injected randomness); 0.5
                is the slot itself.
        """
        if self.exhausted(attempts):
            return None
        delay = self.delays_s[attempts - 1] * (1 - self.spread + 2 * self.spread * jitter)
        if retry_after_s is not None:
            delay = min(max(delay, retry_after_s), self.max_wait_s)
        return now + delay


#: The outbox's retry policy: the delivery loop schedules by it, metrics count by it.
DELIVERY_RETRY: Final = DeliveryRetry()

#: The longest a pending delivery can legitimately wait (:attr:`DeliveryRetry.max_wait_s`).
#: A row due later than this from now was scheduled by a clock that has since been stepped
#: back (see ``clamp_pending``).
MAX_WAIT_S: Final = DELIVERY_RETRY.max_wait_s


def next_cycle_start(
    started_at: float, now: float, interval_s: float, *, jitter_s: float = 0.0, jitter: float = 0.0
) -> float:
    """The start of the next cycle on a fixed grid anchored at ``started_at``.

    Drift-free: cycle k starts at ``started_at + k * interval_s`` (plus jitter), however long
    each cycle took. A cycle that overran skips the slots it missed rather than running
    back to back, so cycles never overlap and never bunch up.

    Args:
        started_at: When the first cycle started (monotonic seconds).
        now: The current monotonic time, after the cycle that just ended.
        interval_s: The configured interval.
        jitter_s: The largest random delay added to a slot.
        jitter: A number in [0, 1) chosen by the caller (injected randomness).
    """
    slots = math.floor((now - started_at) / interval_s) + 1
    return started_at + slots * interval_s + jitter * jitter_s


def retry_at(
    attempts: int, now: float, *, retry_after_s: float | None = None, jitter: float = 0.5
) -> float | None:
    """:meth:`DeliveryRetry.retry_at` of :data:`DELIVERY_RETRY`."""
    return DELIVERY_RETRY.retry_at(attempts, now, retry_after_s=retry_after_s, jitter=jitter)
