"""The *Routes* page's view: the config's routes as a tree, and the route tester.

The tester runs the very trace `pinmon routes test` prints (:mod:`monitor.routetest`):
the same event built from the same ad or sample, the same criterion-by-criterion
checks, the same verdict. Targets appear by masked label only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.config import Route
from monitor.events import EVENT_TYPES, Event
from monitor.mutes import Mute, muted_by
from monitor.routetest import RouteTrace, event_for, target_labels, trace, would_send
from monitor.store import StateStore
from monitor.web.params import BadParam, choice, digits

#: The event types the tester offers, ads' first (what people ask about).
TYPES: Final = tuple(sorted(EVENT_TYPES, key=lambda t: (not t.startswith("ad."), t)))
#: Most changed fields one test may name.
MAX_FIELDS: Final = 20


@dataclass(frozen=True, slots=True)
class RouteNode:
    """One route of the tree: what it asks for, where it sends, how the search goes on."""

    route: Route
    criteria: list[tuple[str, str]]  # (name, what it asks), in words
    targets: list[str]  # masked labels


@dataclass(frozen=True, slots=True)
class TestResult:
    """The tester's answer: the event traced, route by route, and the verdict."""

    event: Event
    traces: list[tuple[RouteTrace, list[str]]]  # each route's trace and its target labels
    muted: Mute | None
    sends: bool


@dataclass(frozen=True, slots=True)
class RoutesView:
    """The *Routes* page."""

    tree: list[RouteNode]
    result: TestResult | None
    asked: Mapping[str, str]  # the tester's form, as given


def _criteria(route: Route) -> list[tuple[str, str]]:
    found = [("events", ", ".join(route.events))]
    for name, values in (
        ("accounts", route.accounts),
        ("campaigns", route.campaigns),
        ("fields changed", route.fields),
    ):
        if values:
            found.append((name, ", ".join(values)))
    found += [(f"when {name}", " or ".join(accepted)) for name, accepted in route.when.items()]
    return found


def _fields(value: str | None) -> list[str]:
    names = [f.strip() for f in (value or "").split(",") if f.strip()]
    if len(names) > MAX_FIELDS or not all(
        n.isascii() and n.replace("_", "").isalnum() and len(n) <= 64 for n in names
    ):
        raise BadParam("fields: field names (letters, digits, _) separated by commas")
    return names


async def routes_view(
    store: StateStore, routes: Sequence[Route], query: Mapping[str, str], *, now: float
) -> RoutesView:
    """The tree, and the trace of the event the query describes (when it names a type).

    Raises:
        BadParam: A malformed query value.
        UnknownAd: The query names an ad the state does not hold.
    """
    labels = await store.labels()
    tree = [RouteNode(r, _criteria(r), target_labels(r, labels)) for r in routes]
    asked = {k: query.get(k, "") for k in ("type", "ad", "account", "campaign", "fields")}
    if not asked["type"]:
        return RoutesView(tree, None, asked)
    event_type = choice(query, "type", TYPES, "ad.rejected")
    ad_id, account_id = digits(query, "ad"), digits(query, "account")
    if ad_id is None and account_id is None:
        raise BadParam("ad or account: one is needed to build the event")
    event = await event_for(
        store,
        event_type,
        ad_id=ad_id,
        account_id=account_id,
        campaign_id=digits(query, "campaign"),
        fields=_fields(query.get("fields")),
    )
    traces = trace(event, routes)
    muted = muted_by(event, await store.mutes(now=now))
    by_name = {n.route.name: n.targets for n in tree}
    result = TestResult(
        event,
        [(t, by_name.get(t.route, [])) for t in traces],
        muted,
        would_send(traces, muted),
    )
    return RoutesView(tree, result, asked)
