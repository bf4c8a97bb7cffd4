"""Reminders while an ad stays rejected (a route's ``repeat_after``), until it is resolved.

A rejection that nobody fixed is still costing delivery a day later; a reminder in the
channel that received it keeps it from being forgotten. Tracked in the state store (table
``reminders``, by route, account and ad), so reminders survive restarts; any later event
that shows the ad no longer rejected (approved, removed, back in review) ends them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Final

import msgspec
import structlog

from monitor.config import Route
from monitor.events import Change, Event, event_id
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.planner import plan_for_route
from monitor.router import match_routes
from monitor.store import Reminder, StateStore

log = structlog.get_logger("monitor.reminders")

_REJECTED: Final = "REJECTED"


def _key(route: str, account_id: str, entity_id: str) -> tuple[str, str, str]:
    return (route, account_id, entity_id)


def _still_rejected(event: Event) -> bool:
    return _REJECTED in (event.state.get("review_status"), event.state.get("summary_status"))


class Reminders:
    """Starts and ends reminders, and commits the ``still_rejected`` events that are due.

    Args:
        store: Where reminders are tracked and their events committed.
        routes: The configured routes; those with ``repeat_after`` remind.
        targets: Each route's target keys, by route name (for the planner).
        now: Wall clock (injected in tests).
        enrich: What a reminder gains before it is committed (the ad's spend figures, as
            they are now), for all the reminders due at once.
    """

    def __init__(
        self,
        store: StateStore,
        routes: Sequence[Route],
        targets: Mapping[str, Sequence[str]],
        *,
        now: Callable[[], float] = time.time,
        enrich: Callable[[Sequence[Event]], Awaitable[list[Event]]] | None = None,
    ) -> None:
        self._enrich = enrich
        self._store = store
        self._routes = [r for r in routes if r.repeat_after_s]
        self._all_routes = routes
        self._targets = targets
        self._now = now

    @property
    def enabled(self) -> bool:
        """Whether any route asks for reminders."""
        return bool(self._routes)

    async def track(self, events: Sequence[Event], *, now: float) -> None:
        """Start reminders for new rejections; end them for ads no longer rejected."""
        if not self._routes:
            return
        start: dict[tuple[str, str, str], Reminder] = {}
        end: list[tuple[str, str, str]] = []
        for event in events:
            if event.entity != Kind.AD:
                continue
            if event.change in (Change.REJECTED, Change.ALREADY_REJECTED):
                for route in match_routes(event, self._all_routes):
                    if route.repeat_after_s:
                        start[_key(route.name, event.ad_account_id, event.entity_id)] = Reminder(
                            route.name,
                            event.ad_account_id,
                            event.entity_id,
                            event,
                            next_at=now + route.repeat_after_s,
                            count=0,
                        )
            elif not _still_rejected(event) or event.change == Change.REMOVED:
                end += [_key(r.name, event.ad_account_id, event.entity_id) for r in self._routes]
        if end:
            await self._store.delete_reminders(end)
        if start:
            await self._store.save_reminders(list(start.values()))

    async def send_due(self, *, mutes: Sequence[Mute]) -> int:
        """Commit a ``still_rejected`` event for every reminder due (to the route that
        asked for it, unless a mute holds); returns how many."""
        if not self._routes:
            return 0
        now = self._now()
        by_name = {r.name: r for r in self._routes}
        due: list[tuple[Event, Route, Reminder]] = []
        updates: list[Reminder] = []
        stale: list[tuple[str, str, str]] = []
        for entry in await self._store.reminders():
            key = entry.key
            route = by_name.get(entry.route)
            original, next_at, count = entry.event, entry.next_at, entry.count
            if route is None or route.repeat_after_s is None:
                stale.append(key)  # the route was removed or stopped asking for reminders
                continue
            if next_at > now:
                continue
            reminder = msgspec.structs.replace(
                original,
                id=event_id("ad", original.entity_id, count + 1, original.id.encode()),
                type=f"ad.{Change.STILL_REJECTED.value}",
                detected_at=now,
                changes={},
            )
            due.append((reminder, route, entry))
        if due and self._enrich is not None:
            enriched = await self._enrich([d[0] for d in due])
            due = [(e, r, entry) for e, (_, r, entry) in zip(enriched, due, strict=True)]
        for reminder, route, entry in due:
            assert route.repeat_after_s is not None
            rows = plan_for_route([reminder], route, mutes, self._targets).rows
            await self._store.record_events([reminder], deliveries=rows, at=now)
            updates.append(
                replace(entry, next_at=now + route.repeat_after_s, count=entry.count + 1)
            )
        sent = len(due)
        if stale:
            await self._store.delete_reminders(stale)
        if updates:
            await self._store.save_reminders(updates)
        return sent
