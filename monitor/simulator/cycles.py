"""Poll cycles as the simulator sees them from outside, so timelines can say ``at_cycle = N``.

The simulator cannot see a poller's loop, only its requests. A cycle is counted when a
listing that already *completed* in the current cycle is started again: a first-page
request (no ``bookmark``) of the same path and query as a listing whose last page
(``bookmark: null``) was served intact since the cycle began. The very first listing
request starts cycle 1.

This holds whichever listings a poller uses (GET /ad_accounts or only per-account
listings, any number of accounts, polled concurrently or not), and retries do not
count: a first page retried after a 500, a reset or a truncated body belongs to a
listing that never completed, so it is the same cycle.
"""

from __future__ import annotations


class Cycles:
    """The cycle counter (0 until the first listing request)."""

    def __init__(self) -> None:
        self.cycle = 0
        self._completed: set[str] = set()

    def first_page(self, listing: str) -> bool:
        """Note a first-page request of ``listing``; True if it starts a new cycle."""
        if self.cycle == 0 or listing in self._completed:
            self.advance()
            return True
        return False

    def completed(self, listing: str) -> None:
        """Note that ``listing``'s last page was served intact."""
        self._completed.add(listing)

    def advance(self) -> int:
        """Start the next cycle by hand; returns its number."""
        self.cycle += 1
        self._completed.clear()
        return self.cycle

    def reset(self) -> None:
        """Back to cycle 0."""
        self.cycle = 0
        self._completed.clear()
