"""Decide which routes receive an event: pure, no I/O.

Semantics: a route matches an event when **every** criterion the route sets matches
(today: one of its ``events`` globs matches the event type, and its ``accounts`` list is
empty or names the event's ad account). Routing is fan-out, not first-match: **every**
matching route receives the event, in config order. An event no route matches is
delivered nowhere (the caller may log that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Final

from monitor.config import Route
from monitor.events import Event

#: One criterion: does this route accept this event? A route field left empty accepts
#: everything. To filter on more (campaign ids, changed fields, field values), add a
#: field to :class:`~monitor.config.Route` and one function here.
Criterion = Callable[[Event, Route], bool]


def _type_matches(event: Event, route: Route) -> bool:
    # Case-sensitive on every platform: event types are lower-case by definition.
    return any(fnmatchcase(event.type, pattern) for pattern in route.events)


def _account_matches(event: Event, route: Route) -> bool:
    return not route.accounts or event.ad_account_id in route.accounts


CRITERIA: Final[tuple[Criterion, ...]] = (_type_matches, _account_matches)


def match_routes(event: Event, routes: Sequence[Route]) -> list[Route]:
    """The routes that receive ``event``, in the order given.

    A route matches when one of its ``events`` globs (``*``, ``ad.*``, ``ad.rejected``,
    ``*.removed``) matches ``event.type`` and its ``accounts`` is empty or contains
    ``event.ad_account_id``. Every matching route receives the event; when two routes
    share a target, the caller sends once per distinct target (notifier ``key``).
    """
    return [route for route in routes if all(ok(event, route) for ok in CRITERIA)]
