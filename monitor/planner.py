"""Turn events into outbox rows: which routes and targets receive each one. Pure.

One planner for every producer of events — the poll cycle, reminders, pinmon's reports
about itself, ``notify-test`` and ``redeliver`` — so that routing, mutes and the rule
that a report about a dead target never goes to that target are decided in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from monitor.config import Route
from monitor.events import Event
from monitor.mutes import Mute, muted_by
from monitor.router import match_routes


class OutboxRow(NamedTuple):
    """One delivery to queue: this event, through this route, to this target (its key)."""

    event_id: str
    route: str
    target: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What the planner decided.

    Attributes:
        rows: The deliveries to queue, in event then route then target order.
        muted: Events a mute silenced (recorded in the history, not sent), with the mute.
    """

    rows: list[OutboxRow] = field(default_factory=list)
    muted: list[tuple[Event, Mute]] = field(default_factory=list)


def plan(
    events: Iterable[Event],
    routes: Sequence[Route],
    mutes: Iterable[Mute],
    targets: Mapping[str, Sequence[str]],
    *,
    exclude: Collection[str] = (),
) -> Plan:
    """Route each event (see :mod:`monitor.router`) to the targets of its routes.

    Args:
        events: What to deliver.
        routes: The configured routes, in order.
        mutes: The mutes in force; a muted event gets no rows.
        targets: Each route's target keys, by route name.
        exclude: Target keys that must not receive these events (a report about a
            target that is dead or disabled is not sent to it).
    """
    mutes = list(mutes)
    out = Plan()
    for event in events:
        mute = muted_by(event, mutes)
        if mute is not None:
            out.muted.append((event, mute))
            continue
        out.rows.extend(
            OutboxRow(event.id, route.name, target)
            for route in match_routes(event, routes)
            for target in targets.get(route.name, ())
            if target not in exclude
        )
    return out


def plan_for_route(
    events: Iterable[Event],
    route: Route,
    mutes: Iterable[Mute],
    targets: Mapping[str, Sequence[str]],
) -> Plan:
    """Deliver each event to one route's targets, whatever its criteria: reminders go to
    the route that asked for them, a test message to the route being tested. Mutes still
    hold."""
    mutes = list(mutes)
    out = Plan()
    for event in events:
        mute = muted_by(event, mutes)
        if mute is not None:
            out.muted.append((event, mute))
            continue
        out.rows.extend(OutboxRow(event.id, route.name, t) for t in targets.get(route.name, ()))
    return out
