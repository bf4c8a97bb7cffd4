"""The daily recap: what stands, once a day at a route's local time.

A route asks for it with ``recap = "09:00 Europe/Berlin"``.

One ``monitor.recap`` report per route and day, to that route only: the ads rejected now,
those fixed since the last recap, those stuck in review, and pinmon's own health — what
an ads manager reads first in the morning. The content comes from the stored snapshot
and the review clock's rows (``ad_reviews``: the candidates, checked against each ad's
stored state), the event history (fixes) and the accounts' bookkeeping.

When it goes: the first cycle (or the daemon's recap clock) after the local time. The
last slot sent is kept in the store, and the event id is the route's and the slot's, so a
restart, ``run --once`` from cron and several replicas send each recap once. A slot
missed by more than :data:`CATCH_UP_S` (the daemon was down all morning) is skipped, not
sent in the afternoon; the first recap after a route gains the setting is the next slot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from datetime import time as daytime
from typing import Any, Final

import structlog

from monitor.analytics import stored_spend
from monitor.config import Config, Route
from monitor.events import Change, Event
from monitor.lane import in_review
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.normal import decode_meta, decode_state
from monitor.ops import OpsChange, ops_event
from monitor.planner import plan_for_route
from monitor.render.words import ads_manager_url, reasons
from monitor.store import AdReview, StateStore

log = structlog.get_logger("monitor.recap")

#: A slot missed by longer than this is skipped: a recap at 15:00 is not a morning recap.
CATCH_UP_S: Final = 6 * 3600.0
#: Entries kept per list in the event (its message cuts further, to ``max_items``).
MAX_ENTRIES: Final = 200
_KEY: Final = "recap.last:"
_REJECTED: Final = "REJECTED"

Describe = Callable[[list[Event]], Awaitable[list[Event]]]


def _zone(name: str) -> tzinfo:
    # Imported on first use: zoneinfo (and the sysconfig it reads) costs every daemon
    # ~5 ms of start-up, and only a route with a recap needs it (as config/routes.py).
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def slot_before(now: float, recap: tuple[int, int, str]) -> float:
    """The latest recap time at or before ``now`` (a local time that a daylight-saving
    change skips or repeats counts once, as :mod:`zoneinfo` resolves it). Pure."""
    hour, minute, zone = recap
    tz = _zone(zone)
    local = datetime.fromtimestamp(now, tz)
    slot = datetime.combine(local.date(), daytime(hour, minute), tzinfo=tz)
    if slot.timestamp() > now:
        slot = datetime.combine(local.date() - timedelta(days=1), daytime(hour, minute), tzinfo=tz)
    return slot.timestamp()


def slot_after(now: float, recap: tuple[int, int, str]) -> float:
    """The first recap time after ``now``. Pure."""
    hour, minute, zone = recap
    tz = _zone(zone)
    day = datetime.fromtimestamp(slot_before(now, recap), tz).date()
    for ahead in (1, 2):  # the next day, or the one after if a clock change ate it
        slot = datetime.combine(day + timedelta(days=ahead), daytime(hour, minute), tzinfo=tz)
        if slot.timestamp() > now:
            return slot.timestamp()
    raise AssertionError("a daily time recurs within two days")  # pragma: no cover


class Recaps:
    """Commits each route's recap when its time has come.

    Args:
        store: Content and the last slot sent come from here; events go here.
        config: The routes (``recap``, ``accounts``), watched fields, the stuck setting.
        targets: Each route's target keys, by route name.
        now: Wall clock (injected in tests).
    """

    def __init__(
        self,
        store: StateStore,
        config: Config,
        targets: Mapping[str, Sequence[str]],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._routes = [r for r in config.routes if r.recap is not None]
        self._watched = config.monitor.watch[Kind.AD]
        self._stuck_after_s = config.monitor.review_stuck_after_s
        self._targets = targets
        self._now = now

    @property
    def enabled(self) -> bool:
        return bool(self._routes)

    def next_at(self, now: float) -> float:
        """When the next recap of any route is due (inf: none asked for)."""
        return min((slot_after(now, r.recap) for r in self._routes if r.recap), default=math.inf)

    async def prime(self) -> None:
        """At a daemon's start: a route that just gained the setting counts from now, so
        its first recap is the next slot, whichever of the first cycle and the recap
        clock looks first."""
        for route in self._routes:
            key = _KEY + route.name
            if await self._store.get_value(key) is None:
                await self._store.set_values({key: repr(self._now())})

    async def send_due(self, *, mutes: Sequence[Mute], describe: Describe | None = None) -> int:
        """Commit the recap of every route whose time has come since its last; returns
        how many were new."""
        new = 0
        for route in self._routes:
            assert route.recap is not None
            now = self._now()
            key = _KEY + route.name
            stored = await self._store.get_value(key)
            slot = slot_before(now, route.recap)
            if stored is None:
                # A route that just gained the setting starts with the next slot.
                await self._store.set_values({key: repr(now)})
                continue
            last = float(stored)
            if slot <= last:
                continue
            if now - slot > CATCH_UP_S:
                log.warning("recap.skipped", route=route.name, late_s=round(now - slot))
            else:
                event = await self.build(route, since=last, at=now, slot=slot, describe=describe)
                rows = plan_for_route([event], route, mutes, self._targets).rows
                new += await self._store.record_events([event], deliveries=rows, at=now)
                log.info("recap.sent", route=route.name, **_counts(event))
            await self._store.set_values({key: repr(slot)})
        return new

    async def build(
        self,
        route: Route,
        *,
        since: float | None,
        at: float,
        slot: float,
        describe: Describe | None = None,
    ) -> Event:
        """The recap event of one route: its facts in ``state`` (see docs/events.md)."""
        accounts = {a.account_id: a for a in await self._store.accounts()}
        wanted = set(route.accounts) if route.accounts else set(accounts)
        rejected, stuck = await self._standing(wanted, at, describe)
        fixed = await self._fixed(wanted, since)
        counts = await self._store.count_deliveries(statuses=["pending", "dead"], limit=100_000)
        health = [
            {
                "account_id": a.account_id,
                "name": a.name,
                "last_success_at": a.last_success_at,
                "consecutive_failures": a.consecutive_failures,
            }
            for a in sorted(accounts.values(), key=lambda a: a.account_id)
            if a.account_id in wanted
        ]
        at_risk: dict[str, float] = {}
        for entry in rejected:
            if "spend" in entry:
                cur = entry["spend"]["currency"] or ""
                at_risk[cur] = round(at_risk.get(cur, 0.0) + entry["spend"]["spend_7d"], 2)
        detail: dict[str, Any] = {
            "route": route.name,
            "money_at_risk": at_risk,
            "since": since,
            "rejected_count": len(rejected),
            "fixed_count": len(fixed),
            "stuck_count": len(stuck),
            "rejected": rejected[:MAX_ENTRIES],
            "fixed": fixed[:MAX_ENTRIES],
            "stuck": stuck[:MAX_ENTRIES],
            "accounts": health,
            "pending_deliveries": counts.get("pending", 0),
            "dead_deliveries": counts.get("dead", 0),
        }
        return ops_event(
            OpsChange.RECAP, subject=route.name, at=at, occurrence=repr(slot), detail=detail
        )

    async def _standing(
        self, wanted: set[str], now: float, describe: Describe | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ads rejected now (longest first) and those in review too long (longest
        first), by their stored state."""
        by_account: dict[str, list[AdReview]] = {}
        for row in await self._store.open_reviews():
            if row.account_id in wanted:
                by_account.setdefault(row.account_id, []).append(row)
        rejected: list[tuple[AdReview, Event]] = []
        stuck: list[tuple[AdReview, Event]] = []
        for account_id, rows in by_account.items():
            for row, event in await self._events(account_id, rows, now):
                if _REJECTED in (
                    event.state.get("review_status"),
                    event.state.get("summary_status"),
                ):
                    rejected.append((row, event))
                elif self._stuck(row, event, now):
                    stuck.append((row, event))
        if describe is not None:
            named = iter(await describe([e for _, e in rejected + stuck]))
            rejected = [(row, next(named)) for row, _ in rejected]
            stuck = [(row, next(named)) for row, _ in stuck]
        spend = await self._spend([e for _, e in rejected])
        # Money at risk first (the last figures monitor.analytics stored; the recap asks
        # Pinterest for none), then the longest rejected; ads without figures after.
        rejected.sort(
            key=lambda p: (
                -spend.get(p[1].entity_id, {}).get("spend_7d", -1.0),
                p[0].rejected_at or now,
                p[1].entity_id,
            )
        )
        stuck.sort(key=lambda p: (p[0].pending_since or now, p[1].entity_id))
        return (
            [
                _entry(e)
                | {"since": r.rejected_at, "reasons": reasons(e)}
                | ({"spend": spend[e.entity_id]} if e.entity_id in spend else {})
                for r, e in rejected
            ],
            [_entry(e) | {"since": r.pending_since} for r, e in stuck],
        )

    async def _spend(self, events: Sequence[Event]) -> dict[str, dict[str, Any]]:
        """The stored 7-day spend of these ads, by ad id, those with figures only."""
        stored = await stored_spend(self._store, ((e.ad_account_id, e.entity_id) for e in events))
        return {
            ad_id: {"spend_7d": round(f.spend, 2), "currency": f.currency, "as_of": f.as_of}
            for ad_id, f in stored.items()
        }

    def _stuck(self, row: AdReview, event: Event, now: float) -> bool:
        since = row.pending_since
        after = self._stuck_after_s
        return in_review(event.state) and since is not None and 0 < after <= now - since

    async def _events(
        self, account_id: str, rows: list[AdReview], now: float
    ) -> list[tuple[AdReview, Event]]:
        """Each candidate as an event-shaped record of its stored state (for names and
        links), those still stored and not removed."""
        ids = [r.ad_id for r in rows]
        info = await self._store.snapshot_info(account_id, Kind.AD, count_upto=1)
        fields = info.fields or self._watched
        stored = await self._store.load_entities(account_id, Kind.AD, ids)
        metas = await self._store.entity_meta(account_id, Kind.AD, ids)
        out = []
        for row in rows:
            entity = stored.get(row.ad_id)
            if entity is None or entity.removed:
                continue
            meta = metas.get(row.ad_id)
            campaign_id, ad_group_id, pin_id, name = (
                (decode_meta(meta) if meta else []) + [None] * 4
            )[:4]
            out.append(
                (
                    row,
                    Event(
                        id="",
                        type=f"ad.{Change.UPDATED.value}",
                        entity=Kind.AD.value,
                        entity_id=row.ad_id,
                        ad_account_id=account_id,
                        campaign_id=campaign_id,
                        ad_group_id=ad_group_id,
                        ad_id=row.ad_id,
                        pin_id=pin_id,
                        name=name,
                        detected_at=now,
                        state=decode_state(fields, entity.blob),
                    ),
                )
            )
        return out

    async def _fixed(self, wanted: set[str], since: float | None) -> list[dict[str, Any]]:
        """Rejections resolved since the last recap: approvals of a rejected ad."""
        if since is None:
            return []
        approvals = await self._store.events(
            since=since, types=[f"ad.{Change.APPROVED.value}"], limit=10_000
        )
        fixed = [
            _entry(e) | {"at": e.detected_at}
            for e in approvals
            if e.ad_account_id in wanted
            and any(c.old == _REJECTED for n, c in e.changes.items() if n.endswith("status"))
        ]
        return sorted(fixed, key=lambda f: (f["at"], f["ad_id"]))


def _entry(event: Event) -> dict[str, Any]:
    return {
        "ad_id": event.entity_id,
        "account_id": event.ad_account_id,
        "name": event.name,
        "campaign": event.campaign_name or event.campaign_id,
        "ad_group": event.ad_group_name or event.ad_group_id,
        "link": ads_manager_url(event),
    }


def _counts(event: Event) -> dict[str, int]:
    return {k: int(event.state[k]) for k in ("rejected_count", "fixed_count", "stuck_count")}
