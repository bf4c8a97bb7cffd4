"""What each page shows, read from the store through its public methods: plain dataclasses.

No HTML here: :mod:`monitor.web.app` hands these to the templates. Times are Unix seconds;
the templates word them relative to the ``now`` each view was read at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from monitor.events import Event
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.normal import decode_state
from monitor.redact import DEFAULT
from monitor.render.words import (
    ads_manager_url,
    is_review_field,
    outcome,
    pin_url,
    reasons,
    value_text,
)
from monitor.store import STATUSES, Delivery, StateStore
from monitor.targets import label_of
from monitor.web.paging import Page

#: Events shown on an ad's page, newest first.
TIMELINE_LIMIT: Final = 500
#: Outstanding deliveries are these; delivered ones are history (the Ad page shows them).
OPEN_STATUSES: Final = ("pending", "failed", "dead")

_REJECTED: Final = "REJECTED"
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One delivery as pages show it: its target by masked label only."""

    id: int
    event_id: str
    event_type: str
    entity_id: str
    name: str | None
    route: str
    target: str  # the outbox key (a hash, never secret): what filters select by
    label: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One watched field's move, in words."""

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of an ad's timeline, with the deliveries it caused."""

    event: Event
    headline: str
    changes: list[Change]
    reasons: list[str]
    deliveries: list[DeliveryRow]


@dataclass(frozen=True, slots=True)
class AdView:
    """The *Ad* page: its current state (when stored) and its timeline."""

    ad_id: str
    account_id: str | None
    name: str | None
    state: Mapping[str, Any]
    removed: bool
    timeline: list[TimelineEntry]
    ads_manager: str | None
    pin: str | None


@dataclass(frozen=True, slots=True)
class DeliveriesView:
    """The *Deliveries* page, and what its filters can select."""

    rows: list[DeliveryRow]
    targets: list[tuple[str, str]]  # (key, label)
    routes: list[str]
    page: Page


def _meta(raw: bytes | None) -> list[Any]:
    return [*(_decode_list(raw) if raw else []), None, None, None, None]


def _link_event(ad_id: str, account_id: str, campaign: str | None, group: str | None) -> Event:
    return Event(
        id="",
        type="ad.updated",
        entity="ad",
        entity_id=ad_id,
        ad_account_id=account_id,
        campaign_id=campaign,
        ad_group_id=group,
        detected_at=0.0,
    )


def delivery_row(d: Delivery, labels: Mapping[str, str]) -> DeliveryRow:
    """A delivery for a page: masked label, error scrubbed of any known secret."""
    return DeliveryRow(
        id=d.id,
        event_id=d.event.id,
        event_type=d.event.type,
        entity_id=d.event.entity_id,
        name=d.event.name,
        route=d.route,
        target=d.target,
        label=label_of(labels, d.target),
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_error=None if d.last_error is None else DEFAULT.redact(d.last_error),
    )


def _changes(event: Event) -> list[Change]:
    return [
        Change(name, value_text(c.old), value_text(c.new))
        for name, c in event.changes.items()
        if not is_review_field(name)
    ]


async def ad_view(store: StateStore, ad_id: str) -> AdView | None:
    """One ad's page; None when the store has neither history nor state for it."""
    events = await store.events(entity_id=ad_id, limit=TIMELINE_LIMIT)
    labels = await store.labels()
    timeline = []
    for event in events:
        if event.entity != Kind.AD:
            continue
        caused = await store.deliveries(statuses=STATUSES, event_id=event.id, limit=100)
        rejected = event.state.get("review_status") == _REJECTED or event.change == "rejected"
        timeline.append(
            TimelineEntry(
                event=event,
                headline=outcome(event).headline(event.entity),
                changes=_changes(event),
                reasons=reasons(event) if rejected else [],
                deliveries=[delivery_row(d, labels) for d in reversed(caused)],
            )
        )
    accounts = (
        [events[0].ad_account_id] if events else [a.account_id for a in await store.accounts()]
    )
    for account_id in accounts:
        found = await store.load_entities(account_id, Kind.AD, [ad_id])
        if ad_id not in found:
            continue
        stored = found[ad_id]
        fields = (await store.snapshot_info(account_id, Kind.AD, count_upto=1)).fields or ()
        meta = _meta((await store.entity_meta(account_id, Kind.AD, [ad_id])).get(ad_id))
        campaign_id, group_id, pin_id, name = meta[:4]
        return AdView(
            ad_id=ad_id,
            account_id=account_id,
            name=name or (events[0].name if events else None),
            state=decode_state(fields, stored.blob),
            removed=stored.removed,
            timeline=timeline,
            ads_manager=ads_manager_url(_link_event(ad_id, account_id, campaign_id, group_id)),
            pin=pin_url(pin_id) if pin_id else None,
        )
    if not timeline:
        return None
    first = timeline[0].event
    return AdView(
        ad_id=ad_id,
        account_id=first.ad_account_id,
        name=first.name,
        state=first.state,
        removed=first.change == "removed",
        timeline=timeline,
        ads_manager=ads_manager_url(first),
        pin=pin_url(first.pin_id) if first.pin_id else None,
    )


async def deliveries_view(
    store: StateStore,
    *,
    target: str | None = None,
    route: str | None = None,
    page: int = 1,
) -> DeliveriesView:
    """A page of the outstanding deliveries (pending, failed, dead), newest first, of one
    target and route when given; and every target and route the filters can pick."""
    labels = await store.labels()
    facets = await store.delivery_facets(statuses=OPEN_STATUSES)
    size = Page(page, 0).size
    found, total = await store.filtered_deliveries(
        statuses=OPEN_STATUSES, target=target, route=route, limit=size, offset=(page - 1) * size
    )
    shown = Page(page, total).clamped()
    if shown.number != page:  # past the end: the last page
        found, total = await store.filtered_deliveries(
            statuses=OPEN_STATUSES, target=target, route=route, limit=size, offset=shown.start
        )
    targets = sorted({(t, label_of(labels, t)) for t, _ in facets}, key=lambda t: (t[1], t[0]))
    return DeliveriesView(
        [delivery_row(d, labels) for d in found],
        targets,
        sorted({r for _, r in facets}),
        shown,
    )


async def mutes_view(store: StateStore, *, now: float) -> list[Mute]:
    """The mutes in force, soonest to end first."""
    return sorted(await store.mutes(now=now), key=lambda m: m.until)


async def fingerprint(store: StateStore) -> tuple[object, ...]:
    """A value that changes whenever something a page shows does: the newest event, the
    outbox (depth and settled failures) and each account's last attempt (live updates)."""
    newest = await store.events(limit=1)
    depth = await store.outbox_depth()
    failed = await store.deliveries(statuses=("failed", "dead", "delivered"), limit=1)
    accounts = await store.accounts()
    mutes = await store.mutes()
    return (
        newest[0].id if newest else None,
        depth,
        (failed[0].id, failed[0].status, failed[0].attempts) if failed else None,
        tuple((a.account_id, a.last_attempt_at, a.consecutive_failures) for a in accounts),
        tuple((m.key, m.until) for m in mutes),
    )
