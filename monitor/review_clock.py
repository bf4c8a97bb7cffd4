"""The review clock: how long each ad has been in review, and what it was decided before.

Pinterest says a review takes up to 24 hours; an ad in review longer than
``review_stuck_after`` is worth a human's look (a support ticket, a re-submission), so
pinmon says so once per stretch in review: ``ad.review_stuck``. And an ad rejected after
it had been approved following an earlier rejection is *rejected again* — the fix did not
hold, or Pinterest re-reviewed it — which its ``ad.rejected`` event says
(``rejected_before_at``), as a reader of the channel would want to know.

Kept in the state store (table ``ad_reviews``, one row per ad that was ever in review or
rejected), so neither survives a restart only half: every commit of ads updates the rows
of the ads it changed; the first cycle of an account after this started seeds them from
the stored snapshot (once per state, marked in the key/value table).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec
import structlog

from monitor.config import Config
from monitor.events import Change, Event, event_id
from monitor.lane import in_review
from monitor.listing import CHUNK
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.normal import decode_meta, decode_state
from monitor.planner import plan
from monitor.store import AdReview, StateStore

log = structlog.get_logger("monitor.review_clock")

_REJECTED: Final = "REJECTED"
_APPROVED: Final = "APPROVED"
#: An ``updated_time`` older than this is not believed as the moment an ad entered
#: review (an ad does not wait a month; a bogus stamp must not make it "stuck" at once).
PLAUSIBLE_S: Final = 30 * 86_400.0
#: The key/value mark that an account's rows were seeded from its snapshot.
_SEEDED: Final = "review_clock.seeded:"

#: One ad as a commit left it: (ad id, watched state, Pinterest's updated_time).
Seen = tuple[str, Mapping[str, Any], "int | None"]


def review_since(updated_time: int | None, now: float) -> float:
    """When an ad seen in review now entered it: Pinterest's stamp of its last change
    where that is believable (not in the future, not a month old), else now."""
    if updated_time is not None and now - PLAUSIBLE_S <= updated_time <= now:
        return float(updated_time)
    return now


def observe(row: AdReview, state: Mapping[str, Any], updated: int | None, now: float) -> AdReview:
    """The row after seeing the ad in ``state``: a stretch in review starts or ends; a
    decision seen only in the state (a baseline, a seed) is dated now. Pure."""
    if in_review(state):
        if row.pending_since is None:
            row = dataclasses.replace(row, pending_since=review_since(updated, now), stuck_at=None)
    elif row.pending_since is not None:
        row = dataclasses.replace(row, pending_since=None, stuck_at=None)
    rejected = _REJECTED in (state.get("review_status"), state.get("summary_status"))
    if rejected and (row.rejected_at is None or _later(row.approved_at, row.rejected_at)):
        row = dataclasses.replace(row, rejected_at=now)
    elif (
        state.get("review_status") == _APPROVED
        and row.rejected_at is not None
        and not _later(row.approved_at, row.rejected_at)
    ):
        row = dataclasses.replace(row, approved_at=now)
    return row


def decided(row: AdReview, event: Event) -> AdReview:
    """The row after one of the ad's events: decisions dated as detected. Pure."""
    match event.change:
        case Change.REJECTED:
            return dataclasses.replace(row, rejected_at=event.detected_at)
        case Change.APPROVED:
            return dataclasses.replace(row, approved_at=event.detected_at)
        case Change.REMOVED:
            return dataclasses.replace(row, pending_since=None, stuck_at=None)
    return row


def rejected_again(row: AdReview | None) -> float | None:
    """When the ad was rejected before, if an approval has come since (so a rejection now
    is a rejection *again*); None otherwise."""
    if row is None or row.rejected_at is None or not _later(row.approved_at, row.rejected_at):
        return None
    return row.rejected_at


def _later(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a >= b


def _empty(row: AdReview) -> bool:
    return row.pending_since is None and row.rejected_at is None and row.approved_at is None


class ReviewClock:
    """Keeps the ``ad_reviews`` rows and commits ``ad.review_stuck`` when one is due.

    Args:
        store: Where rows are kept and events committed.
        config: ``monitor.review_stuck_after``, the routes and the watched ad fields.
        targets: Each route's target keys, by route name (for the planner).
        now: Wall clock (injected in tests).
        on_event: Called with the type of every event committed (metrics).
    """

    def __init__(
        self,
        store: StateStore,
        config: Config,
        targets: Mapping[str, Sequence[str]],
        *,
        now: Callable[[], float] = time.time,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._after_s = config.monitor.review_stuck_after_s
        self._routes = config.routes
        self._watched = config.monitor.watch[Kind.AD]
        self._targets = targets
        self._now = now
        self._on_event = on_event
        self._seeded: set[str] = set()

    async def annotate(self, account_id: str, events: list[Event]) -> list[Event]:
        """Before a commit: a rejection that follows an approval of an earlier rejection
        says when that was (``rejected_before_at``)."""
        ids = [e.entity_id for e in events if e.entity == Kind.AD and e.change == Change.REJECTED]
        if not ids:
            return events
        rows = await self._store.ad_reviews(account_id, ids)
        out = []
        for event in events:
            if event.entity == Kind.AD and event.change == Change.REJECTED:
                before = rejected_again(rows.get(event.entity_id))
                if before is not None:
                    event = msgspec.structs.replace(event, rejected_before_at=before)
            out.append(event)
        return out

    async def track(
        self, account_id: str, seen: Sequence[Seen], events: Iterable[Event], *, now: float
    ) -> None:
        """After a commit of ads: follow the ads it changed and the decisions it made."""
        ad_events = [e for e in events if e.entity == Kind.AD]
        ids = {ad_id for ad_id, _, _ in seen} | {e.entity_id for e in ad_events}
        if not ids:
            return
        stored = await self._store.ad_reviews(account_id, sorted(ids))
        rows = {i: stored.get(i) or AdReview(account_id, i) for i in ids}
        for ad_id, state, updated in seen:
            rows[ad_id] = observe(rows[ad_id], state, updated, now)
        for event in ad_events:
            rows[event.entity_id] = decided(rows[event.entity_id], event)
        await self._store.save_ad_reviews(
            [
                r
                for i, r in rows.items()
                if r != stored.get(i) and not (_empty(r) and i not in stored)
            ]
        )

    async def seed(self, account_id: str, *, now: float) -> None:
        """Once per state and account: rows for the stored ads in review or rejected that
        no commit has shown this clock (a big baseline writes ahead of its commit; a
        state from before the clock)."""
        if account_id in self._seeded:
            return
        self._seeded.add(account_id)
        key = _SEEDED + account_id
        if await self._store.get_value(key):
            return
        info = await self._store.snapshot_info(account_id, Kind.AD, count_upto=1)
        fields = info.fields or self._watched
        after: str | None = None
        while chunk := await self._store.load_range(
            account_id, Kind.AD, after=after, upto=None, limit=CHUNK
        ):
            seen = [
                (entity_id, decode_state(fields, stored.blob), stored.updated_time)
                for entity_id, stored in chunk
                if not stored.removed
            ]
            await self.track(account_id, seen, (), now=now)
            after = chunk[-1][0]
        await self._store.set_values({key: str(now)})

    async def send_due(
        self,
        *,
        mutes: Sequence[Mute],
        describe: Callable[[list[Event]], Awaitable[list[Event]]] | None = None,
    ) -> int:
        """Commit ``ad.review_stuck`` for every ad in review longer than the setting, once
        per stretch (``describe`` adds what people recognise: campaign and ad group
        names); returns how many were new."""
        if self._after_s <= 0:
            return 0
        now = self._now()
        due = await self._store.stuck_reviews(now - self._after_s)
        by_account: dict[str, list[AdReview]] = {}
        for row in due:
            by_account.setdefault(row.account_id, []).append(row)
        new = 0
        for account_id, rows in by_account.items():
            events, settled = await self._stuck(account_id, rows, now)
            if events and describe is not None:
                events = await describe(events)
            planned = plan(events, self._routes, mutes, self._targets)
            if events:
                new += await self._store.record_events(events, deliveries=planned.rows, at=now)
            await self._store.save_ad_reviews(settled)
            for event in events:
                log.info("review.stuck", ad_id=event.entity_id, since=event.in_review_since)
                if self._on_event is not None:
                    self._on_event(event.type)
        return new

    async def _stuck(
        self, account_id: str, rows: list[AdReview], now: float
    ) -> tuple[list[Event], list[AdReview]]:
        """The events of the ads still in review by their stored state; every row settled
        (reported, or its stretch ended where the store shows it is not in review)."""
        ids = [r.ad_id for r in rows]
        info = await self._store.snapshot_info(account_id, Kind.AD, count_upto=1)
        fields = info.fields or self._watched
        stored = await self._store.load_entities(account_id, Kind.AD, ids)
        metas = await self._store.entity_meta(account_id, Kind.AD, ids)
        events: list[Event] = []
        settled: list[AdReview] = []
        for row in rows:
            entity = stored.get(row.ad_id)
            state = decode_state(fields, entity.blob) if entity is not None else {}
            if entity is None or entity.removed or not in_review(state):
                settled.append(dataclasses.replace(row, pending_since=None, stuck_at=None))
                continue
            assert row.pending_since is not None  # stuck_reviews selects on it
            meta = metas.get(row.ad_id)
            campaign_id, ad_group_id, pin_id, name = (
                (decode_meta(meta) if meta else []) + [None] * 4
            )[:4]
            events.append(
                Event(
                    id=event_id("ad", row.ad_id, 0, f"review_stuck:{row.pending_since!r}".encode()),
                    type=f"ad.{Change.REVIEW_STUCK.value}",
                    entity=Kind.AD.value,
                    entity_id=row.ad_id,
                    ad_account_id=account_id,
                    campaign_id=campaign_id,
                    ad_group_id=ad_group_id,
                    ad_id=row.ad_id,
                    pin_id=pin_id,
                    name=name,
                    updated_time=entity.updated_time,
                    detected_at=now,
                    state=state,
                    in_review_since=row.pending_since,
                )
            )
            settled.append(dataclasses.replace(row, stuck_at=now))
        return events, settled
