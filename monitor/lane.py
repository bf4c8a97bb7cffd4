"""The review fast lane's bookkeeping: which ads each account has under review. Pure.

Review decisions happen to a small, known set of ads: those in review (review_status or
summary_status PENDING) and those just created or edited (an edit sends an ad back to
review, and the listing may show PENDING only later). The fast lane asks about exactly
those by id, every ``fast_interval``; this module decides which they are, and in which
order the budget's share is spent on them (the longest waiting first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from monitor.events import Change, Event

#: The states a review is not decided in.
_PENDING: Final = "PENDING"
#: "Never asked about": sorts before any time.
_NEVER: Final = float("-inf")
#: Changes that end a review (the ad leaves the lane).
_DECISIONS: Final = frozenset({Change.APPROVED, Change.REJECTED})


def in_review(state: Mapping[str, Any]) -> bool:
    """Whether an ad's watched state says its review is not decided."""
    return state.get("review_status") == _PENDING or state.get("summary_status") == _PENDING


def stamped_within(updated_time: float | None, *, now: float, window_s: float) -> bool:
    """Whether Pinterest stamped an ad (created or edited it) within ``window_s`` before
    ``now``: an edit not yet reviewed, which may not show PENDING yet. What a stored ad
    is taken into the lane by, besides :func:`in_review`, when no cycle saw it change."""
    return updated_time is not None and now - window_s < updated_time <= now


class ReviewLane:
    """Ads under review per account, each with the time it entered the lane.

    An ad enters when it is seen in review, or when its bytes changed in a (non-baseline)
    cycle — created or edited — and then stays for ``window_s`` even if it does not show
    PENDING yet. It leaves once a decision (``ad.approved`` / ``ad.rejected``) is seen, or
    when the window has passed and it is not in review.

    Args:
        window_s: How long a created or edited ad stays in the lane without showing PENDING.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        # account -> ad id -> [entered at, in review, last asked at (-inf: never)]
        self._lanes: dict[str, dict[str, list[Any]]] = {}

    def observe(
        self, account_id: str, entity_id: str, state: Mapping[str, Any], *, changed: bool,
        decided: bool, now: float,
    ) -> None:  # fmt: skip
        """Take one ad's latest state into account.

        Args:
            state: Its watched values (normal form).
            changed: Its bytes changed in a cycle that reports (created or edited).
            decided: A review decision about it was just detected.
        """
        lane = self._lanes.setdefault(account_id, {})
        pending = in_review(state)
        entry = lane.get(entity_id)
        if pending:
            if entry is None:
                lane[entity_id] = [now, True, _NEVER]
            else:
                entry[1] = True
        elif decided:
            lane.pop(entity_id, None)
        elif changed:
            lane[entity_id] = [now, False, _NEVER]
        elif entry is not None:
            entry[1] = False

    def observe_events(self, account_id: str, events: Iterable[Event], *, now: float) -> None:
        """A decision ends an ad's stay; a removal too."""
        lane = self._lanes.get(account_id)
        if not lane:
            return
        for event in events:
            if event.change in _DECISIONS or event.change == Change.REMOVED:
                lane.pop(event.entity_id, None)

    def expire(self, now: float) -> None:
        """Drop ads past the window that are not in review."""
        cutoff = now - self._window_s
        for lane in self._lanes.values():
            gone = [i for i, (at, pending, _) in lane.items() if not pending and at < cutoff]
            for entity_id in gone:
                del lane[entity_id]

    def due(self, limit: int) -> dict[str, list[str]]:
        """Up to ``limit`` ads over every account, by account: those not asked about for
        longest first (never asked before all), and among them the longest waiting. When
        the lane holds more than a pass may ask, the oldest go first and none waits more
        than ``ceil(size / limit)`` passes."""
        entries = [
            (asked, at, account, entity_id)
            for account, lane in self._lanes.items()
            for entity_id, (at, _, asked) in lane.items()
        ]
        entries.sort(key=lambda e: (e[0], e[1], e[2], len(e[3]), e[3]))
        out: dict[str, list[str]] = {}
        for _, _, account, entity_id in entries[:limit]:
            out.setdefault(account, []).append(entity_id)
        return out

    def asked(self, account_id: str, entity_ids: Iterable[str], *, now: float) -> None:
        """These ads were just looked up (they go to the back of the queue)."""
        lane = self._lanes.get(account_id, {})
        for entity_id in entity_ids:
            entry = lane.get(entity_id)
            if entry is not None:
                entry[2] = now

    def accounts(self) -> list[str]:
        """Accounts with ads in the lane."""
        return [account for account, lane in self._lanes.items() if lane]

    def size(self) -> int:
        """Ads in the lane, over every account."""
        return sum(len(lane) for lane in self._lanes.values())

    def oldest_age_s(self, now: float) -> float | None:
        """How long the longest-waiting ad has been in the lane (None: empty)."""
        entered = [entry[0] for lane in self._lanes.values() for entry in lane.values()]
        return now - min(entered) if entered else None
