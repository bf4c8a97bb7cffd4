"""Commit pinmon's reports about itself with the deliveries the planner gives them.

The poll cycle commits its own events with its snapshot (``commit_cycle``); everything
else that reports — an account failing, a target disabled, a delivery dead, the state
file lost — goes through here, so that the delivery loop never calls back into polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence

import structlog

from monitor.config import Route
from monitor.events import Event
from monitor.planner import plan
from monitor.store import StateStore

log = structlog.get_logger("monitor.outbox")


class Reports:
    """Where ``monitor.*`` events are committed to the history and the outbox.

    Args:
        store: The state store.
        routes: The configured routes.
        targets: Each route's target keys, by route name.
        now: Wall clock (injected in tests).
        on_new: Called with the type of every event that was new (metrics).
    """

    def __init__(
        self,
        store: StateStore,
        routes: Sequence[Route],
        targets: Mapping[str, Sequence[str]],
        *,
        now: Callable[[], float] = time.time,
        on_new: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._routes = routes
        self._targets = targets
        self._now = now
        self._on_new = on_new

    async def emit(self, events: Sequence[Event], exclude: Collection[str] = ()) -> int:
        """Commit ``events`` with their deliveries, none to the targets in ``exclude``
        (a report about a dead target is not sent to it); returns how many were new.

        Reports are never muted (a mute on an ad must not hide that the token stopped
        working), and the same report (same id) is committed once.
        """
        if not events:
            return 0
        rows = plan(events, self._routes, (), self._targets, exclude=exclude).rows
        new = await self._store.record_events(events, deliveries=rows, at=self._now())
        for event in events[:new]:
            log.warning("monitor.event", type=event.type, subject=event.entity_id)
            if self._on_new is not None:
                self._on_new(event.type)
        return new
