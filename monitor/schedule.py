"""Scheduling maths, pure: when the next cycle starts and when a failed delivery is retried."""

from __future__ import annotations

import math
from typing import Final

#: Svix's schedule after the immediate first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
#: About 28 hours in all, long enough to ride out a weekend-long outage of one target is not
#: the goal; riding out a Slack incident or a receiver's deploy is.
RETRY_DELAYS_S: Final = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)

#: The longest a pending delivery can legitimately wait: the last step with its jitter,
#: which also caps a target's Retry-After. A row due later than this from now was
#: scheduled by a clock that has since been stepped back (see ``clamp_pending``).
MAX_WAIT_S: Final = RETRY_DELAYS_S[-1] * 1.1


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
    """When to try a failed delivery again, or ``None`` when it should be dead-lettered.

    Args:
        attempts: Attempts made so far, including the one that just failed.
        now: The current wall-clock time.
        retry_after_s: The target's Retry-After, honoured when longer than the schedule.
        jitter: A number in [0, 1) chosen by the caller; spreads retries by ±10 %.
    """
    if attempts < 1 or attempts > len(RETRY_DELAYS_S):
        return None
    delay = RETRY_DELAYS_S[attempts - 1] * (0.9 + 0.2 * jitter)
    if retry_after_s is not None:
        delay = min(max(delay, retry_after_s), MAX_WAIT_S)
    return now + delay
