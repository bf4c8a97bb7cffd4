"""A clock you move by hand: what tests and rehearsals inject instead of sleeping."""

from __future__ import annotations


class ManualClock:
    """A Unix-seconds clock that stands still until advanced.

    Call it like ``time.time``; pass it as ``now=`` to :class:`Simulator`.
    """

    def __init__(self, start: float = 1_732_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        """The current time."""
        return self.t

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; returns the new time."""
        self.t += seconds
        return self.t
