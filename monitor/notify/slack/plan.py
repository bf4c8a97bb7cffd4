"""Which Slack message an event becomes, given its ad's thread: pure, no I/O.

An ad's trouble (a rejection, a reminder that it stands, a review stuck, its landing
page down, its Pin deleted) opens a thread when none is open; while one is open, every
later event of the ad replies in it, and the approval ends it (the root is edited to
"✅ Resolved" and the approval replies). A rejection after that opens a new thread: one
thread per stretch of trouble. Anything else, and pinmon's own reports, go alone.
"""

from __future__ import annotations

import enum
from typing import Final

from monitor.events import Change, Event
from monitor.models import Kind
from monitor.store import SlackThread

__all__ = ["OPENERS", "Step", "plan"]

#: The changes that open a thread when the ad has none open.
OPENERS: Final = frozenset(
    {
        Change.REJECTED,
        Change.ALREADY_REJECTED,
        Change.STILL_REJECTED,
        Change.REVIEW_STUCK,
        Change.LANDING_PAGE_DOWN,
        Change.PIN_DELETED,
    }
)


class Step(enum.Enum):
    """What to send for one event."""

    #: A message on its own, no thread (and none remembered).
    ALONE = "alone"
    #: A root message, remembered as the ad's open thread.
    ROOT = "root"
    #: A reply in the ad's open thread.
    REPLY = "reply"
    #: Edit the root to "✅ Resolved", reply, and close the thread.
    RESOLVE = "resolve"
    #: Already in the thread: Slack had it before a crash kept the outbox from knowing.
    DONE = "done"


def threaded(event: Event) -> bool:
    """Whether the event belongs to an ad's thread at all."""
    return not event.is_report and event.entity == Kind.AD


def plan(event: Event, thread: SlackThread | None) -> Step:
    """The step for ``event``, given its ad's latest thread on the target (or None)."""
    if not threaded(event):
        return Step.ALONE
    if thread is not None and thread.last_event_id == event.id:
        return Step.DONE
    if thread is not None and not thread.resolved:
        return Step.RESOLVE if event.change == Change.APPROVED else Step.REPLY
    return Step.ROOT if event.change in OPENERS else Step.ALONE
