"""What each page shows, read from the store through its public methods: plain dataclasses.

No HTML here: :mod:`monitor.web.app` hands these to the templates. Times are Unix seconds;
the templates word them relative to the ``now`` each view was read at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    reason_text,
    reasons,
    value_text,
)
from monitor.store import STATUSES, AccountState, Delivery, StateStore
from monitor.summary import summary_counts
from monitor.targets import label_of

#: Events read to date rejections and reviews; older ones fall out of the board's "since".
HISTORY_LIMIT: Final = 20_000
#: Events shown on an ad's page, newest first.
TIMELINE_LIMIT: Final = 500
#: Deliveries listed on the Deliveries page.
DELIVERIES_LIMIT: Final = 500
#: Outstanding deliveries are these; delivered ones are history (the Ad page shows them).
OPEN_STATUSES: Final = ("pending", "failed", "dead")

_REJECTED: Final = "REJECTED"
_PENDING: Final = "PENDING"
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One watched account on *Now*."""

    account_id: str
    name: str | None
    last_success_at: float | None
    last_error: str | None
    failures: int
    counts: Mapping[str, int]

    @property
    def health(self) -> str:
        """``ok``, ``failing`` or ``waiting`` (never polled successfully, never failed)."""
        if self.failures:
            return "failing"
        return "ok" if self.last_success_at is not None else "waiting"


@dataclass(frozen=True, slots=True)
class AdRow:
    """One ad rejected or in review right now."""

    ad_id: str
    account_id: str
    name: str | None
    campaign_id: str | None
    campaign_name: str | None
    ad_group_id: str | None
    ad_group_name: str | None
    pin_id: str | None
    reasons: tuple[str, ...]
    since: float | None  # when it was seen entering this state; None: before the baseline
    ads_manager: str
    pin: str | None


@dataclass(frozen=True, slots=True)
class NowView:
    """The *Now* page."""

    accounts: list[AccountRow]
    rejected: list[AdRow]
    in_review: list[AdRow]
    campaigns: list[tuple[str, str]]  # (id, name or id) for the filter


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


@dataclass(slots=True)
class _Known:
    """What the history says about one ad: when it entered its state, its parents' names."""

    rejected_at: float | None = None
    review_at: float | None = None
    names: dict[str, str] = field(default_factory=dict)


def _reasons_of(state: Mapping[str, Any]) -> tuple[str, ...]:
    labels = [str(x) for x in state.get("rejection_labels") or () if str(x).strip()]
    if labels:
        return tuple(labels)
    return tuple(reason_text(str(x)) for x in state.get("rejected_reasons") or ())


def _entered_review(event: Event) -> bool:
    moved = event.changes.get("review_status")
    if moved is not None:
        return bool(moved.new == _PENDING)
    return event.type == "ad.created" and event.state.get("review_status") == _PENDING


async def _history(store: StateStore) -> dict[str, _Known]:
    """Per ad: its newest rejection and entry into review, and its parents' names."""
    known: dict[str, _Known] = {}
    types = ("ad.rejected", "ad.already_rejected", "ad.created", "ad.review_status_changed")
    for event in await store.events(types=types, limit=HISTORY_LIMIT):  # newest first
        k = known.setdefault(event.entity_id, _Known())
        if event.type in ("ad.rejected", "ad.already_rejected"):
            if k.rejected_at is None:
                k.rejected_at = event.detected_at
        elif k.review_at is None and _entered_review(event):
            k.review_at = event.detected_at
        for key, value in (("campaign", event.campaign_name), ("ad_group", event.ad_group_name)):
            if value and key not in k.names:
                k.names[key] = value
    return known


def _meta(raw: bytes | None) -> list[Any]:
    return [*(_decode_list(raw) if raw else []), None, None, None, None]


async def _parent_names(
    store: StateStore, account_id: str, kind: Kind, ids: set[str]
) -> dict[str, str]:
    """Names of campaigns or ad groups from their own snapshots (when they are watched)."""
    if not ids:
        return {}
    metas = await store.entity_meta(account_id, kind, sorted(ids))
    return {i: name for i, raw in metas.items() if isinstance(name := _meta(raw)[3], str)}


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


async def _account_ads(
    store: StateStore, state: AccountState, known: Mapping[str, _Known]
) -> tuple[dict[str, int], list[AdRow], list[AdRow]]:
    snapshot = await store.load_snapshot(state.account_id, Kind.AD)
    fields = snapshot.fields or ()
    counts = dict(sorted(summary_counts(snapshot.entities.values(), fields).items()))
    picked: list[tuple[str, dict[str, Any]]] = []
    for ad_id, stored in snapshot.entities.items():
        if stored.removed:
            continue
        values = decode_state(fields, stored.blob)
        if _REJECTED in (values.get("review_status"), values.get("summary_status")) or (
            values.get("review_status") == _PENDING
        ):
            picked.append((ad_id, values))
    metas = await store.entity_meta(state.account_id, Kind.AD, [i for i, _ in picked])
    ids = {ad_id: _meta(metas.get(ad_id)) for ad_id, _ in picked}
    campaigns = await _parent_names(
        store, state.account_id, Kind.CAMPAIGN, {m[0] for m in ids.values() if m[0]}
    )
    groups = await _parent_names(
        store, state.account_id, Kind.AD_GROUP, {m[1] for m in ids.values() if m[1]}
    )
    rejected: list[AdRow] = []
    review: list[AdRow] = []
    for ad_id, values in picked:
        campaign_id, group_id, pin_id, name = ids[ad_id][:4]
        k = known.get(ad_id, _Known())
        is_rejected = _REJECTED in (values.get("review_status"), values.get("summary_status"))
        row = AdRow(
            ad_id=ad_id,
            account_id=state.account_id,
            name=name,
            campaign_id=campaign_id,
            campaign_name=campaigns.get(campaign_id or "") or k.names.get("campaign"),
            ad_group_id=group_id,
            ad_group_name=groups.get(group_id or "") or k.names.get("ad_group"),
            pin_id=pin_id,
            reasons=_reasons_of(values) if is_rejected else (),
            since=k.rejected_at if is_rejected else k.review_at,
            ads_manager=ads_manager_url(
                _link_event(ad_id, state.account_id, campaign_id, group_id)
            ),
            pin=pin_url(pin_id) if pin_id else None,
        )
        (rejected if is_rejected else review).append(row)
    return counts, rejected, review


def _sort_key(sort: str) -> Any:
    if sort == "name":
        return lambda r: ((r.name or "").lower(), r.ad_id)
    if sort == "campaign":
        return lambda r: ((r.campaign_name or r.campaign_id or "").lower(), (r.name or "").lower())
    # "since": longest in this state first; unknown dates (before the baseline) lead.
    return lambda r: (r.since is not None, r.since or 0.0, r.ad_id)


async def now_view(
    store: StateStore,
    *,
    account: str | None = None,
    campaign: str | None = None,
    sort: str = "since",
) -> NowView:
    """Accounts with their health and counts; ads rejected and in review, filtered and sorted."""
    known = await _history(store)
    accounts: list[AccountRow] = []
    rejected: list[AdRow] = []
    review: list[AdRow] = []
    campaigns: dict[str, str] = {}
    for state in await store.accounts():
        if account is not None and state.account_id != account:
            continue
        counts, rej, rev = await _account_ads(store, state, known)
        accounts.append(
            AccountRow(
                state.account_id,
                state.name,
                state.last_success_at,
                None if state.last_error is None else DEFAULT.redact(state.last_error),
                state.consecutive_failures,
                counts,
            )
        )
        for row in (*rej, *rev):
            if row.campaign_id:
                campaigns.setdefault(row.campaign_id, row.campaign_name or row.campaign_id)
        rejected += [r for r in rej if campaign is None or r.campaign_id == campaign]
        review += [r for r in rev if campaign is None or r.campaign_id == campaign]
    key = _sort_key(sort)
    return NowView(
        accounts,
        sorted(rejected, key=key),
        sorted(review, key=key),
        sorted(campaigns.items(), key=lambda c: c[1].lower()),
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
        fields = (await store.snapshot_info(account_id, Kind.AD)).fields or ()
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
    store: StateStore, *, target: str | None = None, route: str | None = None
) -> DeliveriesView:
    """Outstanding deliveries (pending, failed, dead), newest first, filtered."""
    labels = await store.labels()
    every = [
        delivery_row(d, labels)
        for d in await store.deliveries(statuses=OPEN_STATUSES, limit=DELIVERIES_LIMIT)
    ]
    rows = [
        r
        for r in every
        if (target is None or r.target == target) and (route is None or r.route == route)
    ]
    targets = sorted({(r.target, r.label) for r in every} | set(), key=lambda t: t[1])
    return DeliveriesView(rows, targets, sorted({r.route for r in every}))


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


def campaign_label(campaigns: Sequence[tuple[str, str]], campaign_id: str | None) -> str | None:
    """The filter's campaign in words, for the heading."""
    return next((name for cid, name in campaigns if cid == campaign_id), campaign_id)
