"""Decide which routes receive an event: pure, no I/O.

Semantics (documented in the README):

- A route **matches** an event when every criterion it sets holds: one of its ``events``
  globs matches the type; ``accounts`` (if set) names the event's ad account;
  ``campaigns`` (if set) names its campaign; ``fields`` (if set) names one of the fields
  that changed; and for every ``when`` entry the field's value is one of those listed —
  the new value when the field changed, else its current value.
- Routes are tried in config order and **every** matching route receives the event,
  until a matching route has ``continue = false``: then the search stops (Alertmanager's
  ``continue``, with fan-out as the default because missing an alert is worse than
  receiving it twice).
- ``fallback = true`` routes receive an event only when no other route matched it: the
  catch-all for "everything else".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any, Final

from monitor.config import Route
from monitor.events import Event

#: One criterion: does this route accept this event? A route field left empty accepts
#: everything. To filter on more, add a field to :class:`~monitor.config.Route` and one
#: function here.
Criterion = Callable[[Event, Route], bool]


def _type_matches(event: Event, route: Route) -> bool:
    # Case-sensitive on every platform: event types are lower-case by definition.
    return any(fnmatchcase(event.type, pattern) for pattern in route.events)


def _account_matches(event: Event, route: Route) -> bool:
    return not route.accounts or event.ad_account_id in route.accounts


def _campaign_matches(event: Event, route: Route) -> bool:
    return not route.campaigns or event.campaign_id in route.campaigns


def _fields_match(event: Event, route: Route) -> bool:
    return not route.fields or any(name in event.changes for name in route.fields)


def _text(value: Any) -> set[str]:
    """A value as the strings a config can name: lists match any member, true is "true"."""
    if isinstance(value, list | tuple):
        return {t for item in value for t in _text(item)}
    if isinstance(value, bool):
        return {"true" if value else "false", str(value)}
    return set() if value is None else {str(value)}


def _values_match(event: Event, route: Route) -> bool:
    for name, accepted in route.when.items():
        change = event.changes.get(name)
        value = change.new if change is not None else event.state.get(name)
        if not _text(value) & set(accepted):
            return False
    return True


CRITERIA: Final[tuple[Criterion, ...]] = (
    _type_matches,
    _account_matches,
    _campaign_matches,
    _fields_match,
    _values_match,
)


def route_matches(event: Event, route: Route) -> bool:
    """Whether every criterion ``route`` sets holds for ``event`` (order and fallback aside)."""
    return all(ok(event, route) for ok in CRITERIA)


def match_routes(event: Event, routes: Sequence[Route]) -> list[Route]:
    """The routes that receive ``event``, in config order (see the module docstring).

    When two routes share a target, the caller sends once per distinct target.
    """
    matched: list[Route] = []
    for route in routes:
        if route.fallback or not route_matches(event, route):
            continue
        matched.append(route)
        if not route.continue_:
            break
    if matched:
        return matched
    return [route for route in routes if route.fallback and route_matches(event, route)]
