"""One account's listing of one kind, each cycle: diff it against the stored snapshot, prove
what it lacks, describe the events and commit them with the snapshot and their deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import anyio
import msgspec
import structlog

from monitor.analytics import SpendFigures
from monitor.config import Config
from monitor.differ import AccountDiff, DiffContext, DiffResult, OrderError
from monitor.errors import PinterestError
from monitor.events import Change, Event
from monitor.evidence import FUTURE_TOLERANCE_S
from monitor.landing import LandingChecker, is_landing_rejection
from monitor.lane import ReviewLane, stamped_within
from monitor.listing import CHUNK, Listed, count_stored, diff_in_order, diff_whole
from monitor.models import Kind, Row, row_type
from monitor.mutes import Mute
from monitor.names import ParentNames
from monitor.normal import decode_meta, decode_state
from monitor.pinterest import PinterestClient
from monitor.planner import plan
from monitor.reminders import Reminders
from monitor.removals import RemovalProof
from monitor.review_clock import ReviewClock, Seen
from monitor.store import SnapshotInfo, StateStore
from monitor.summary import summary_counts_after

log = structlog.get_logger("monitor.poll")

#: Ids quoted in one warning: enough to look into, not a page of them.
_QUOTED_IDS = 10
#: The start-up report's "pending review for long": longer than Pinterest's usual day.
_PENDING_LONG_S = 86_400.0


class KindPoller:
    """Polls one kind of entity of an account per call; keeps what outlives a cycle.

    Args:
        config: The whole config (watched fields, statuses, routes, stream_above).
        client: The Pinterest client.
        store: The state store.
        targets: Each route's target keys, by route name (for the planner).
        reminders: Started and ended by the events committed.
        now: Wall clock (injected in tests).
        on_event: Called with the type of every event detected (metrics).
        count: Keep live entities by summary_status per account (for ``/metrics``):
            the first cycle of a process reads every stored row to start the counts,
            which a `run --once` without metrics need not pay for.
        lane: The review fast lane to keep up to date (None: no fast lane).
        clock: The review clock to keep up to date (None: none).
        landing: Fetches the landing page of an ad rejected for it (None: not asked).
        spend: Attaches rejected ads' spend figures (None: not asked).
    """

    def __init__(
        self,
        config: Config,
        *,
        client: PinterestClient,
        store: StateStore,
        targets: Mapping[str, Sequence[str]],
        reminders: Reminders,
        now: Callable[[], float] = time.time,
        on_event: Callable[[str], None] | None = None,
        count: bool = True,
        lane: ReviewLane | None = None,
        clock: ReviewClock | None = None,
        landing: LandingChecker | None = None,
        spend: SpendFigures | None = None,
    ) -> None:
        self._config = config
        self.lane = lane
        self._clock = clock
        self._landing = landing
        self._spend = spend
        # One poll of an account's ads at a time: the full cycle's listing and the fast
        # lane's lookups diff against the same stored rows (the lookups only wait for the
        # store part; their requests go out unlocked, so a slow one delays nothing).
        self._locks: dict[str, anyio.Lock] = {}
        self._primed: set[str] = set()
        self._count = count
        self._client = client
        self._store = store
        self._targets = targets
        self._reminders = reminders
        self._now = now
        self._on_event = on_event
        statuses = config.pinterest.entity_statuses
        self._names = ParentNames(
            client, entity_statuses=statuses, store=store, polled=config.monitor.entities
        )
        self._proof = RemovalProof(client, store, entity_statuses=statuses)
        self._rows: dict[Kind, type[Row]] = {
            kind: row_type(kind, config.monitor.watch[kind]) for kind in config.monitor.entities
        }
        #: Per (account, kind): live entities by summary_status after the last commit.
        self.entity_counts: dict[tuple[str, Kind], dict[str, int]] = {}
        #: Baselines report what stands (``report_on_start``, or after a lost state).
        self.report_existing = config.monitor.report_on_start

    def _lock(self, account_id: str) -> anyio.Lock:
        return self._locks.setdefault(account_id, anyio.Lock())

    async def poll(self, account_id: str, kind: Kind, mutes: Sequence[Mute]) -> tuple[int, int]:
        """List, diff and commit one kind of one account; returns (new events, listed).

        Raises:
            PinterestError: The listing failed (nothing was committed).
        """
        if kind is not Kind.AD:
            return await self._poll(account_id, kind, mutes)
        async with self._lock(account_id):
            return await self._poll(account_id, kind, mutes)

    async def _poll(self, account_id: str, kind: Kind, mutes: Sequence[Mute]) -> tuple[int, int]:
        watched = self._config.monitor.watch[kind]
        # The size only decides between reading the snapshot whole and page by page.
        upto = self._config.monitor.stream_above + 1
        info = await self._store.snapshot_info(account_id, kind, count_upto=upto)
        ctx = DiffContext(
            account_id=account_id,
            kind=kind,
            watched=watched,
            stored_fields=info.fields or watched,
            detected_at=self._now(),
            baseline=info.fields is None,
            report_existing=self.report_existing,
            pending_before=self._now() - _PENDING_LONG_S,
            trusted_until=self._client.now() + FUTURE_TOLERANCE_S,
        )
        before = await self._counts_before(ctx, info) if self._count else {}
        listed = await self._diff(ctx, info)
        diff = listed.diff
        # A baseline reports nothing, so what it lacks needs no proof.
        row = self._rows[kind]
        gone = None if ctx.baseline else await self._proof.confirm(diff, account_id, kind, row)
        result = diff.finish(complete=True, gone=gone)
        log.debug(
            "poll.listed", kind=kind.value, listed=result.seen, stored=listed.how,
            stored_rows_read=listed.rows_read,
        )  # fmt: skip
        _log_evidence(kind, result)
        events = await self._describe(account_id, kind, result.events)
        if kind is Kind.AD:
            events = await self._annotate(account_id, events)
        new = await self._commit(ctx, info, result, events, mutes, listed=listed)
        if self._count:
            self.entity_counts[(account_id, kind)] = (
                # A big baseline wrote most of its rows ahead of the commit (not in
                # result.rows): count what is stored, once.
                await count_stored(self._store, account_id, kind, watched, None)
                if ctx.baseline
                else summary_counts_after(before, result.events)
            )
        await self._reminders.track(events, now=self._now())
        self._announce(ctx, result)
        if kind is Kind.AD:
            await self._keep_review(ctx, result, events)
        return new, result.seen

    async def _keep_review(self, ctx: DiffContext, result: DiffResult, events: list[Event]) -> None:
        """After a commit of ads: the fast lane and the review clock follow the ads whose
        bytes changed; the first time an account is seen (in this process for the lane,
        in this state for the clock), every stored ad in review."""
        lane, clock, now, account_id = self.lane, self._clock, self._now(), ctx.account_id
        if lane is None and clock is None:
            return
        seen: list[Seen] = [
            (r.entity_id, decode_state(ctx.watched, r.stored.blob), r.stored.updated_time)
            for r in result.rows
            if not r.stored.removed
        ]
        if clock is not None:
            await clock.track(account_id, seen, events, now=now)
            if not ctx.baseline:
                await clock.seed(account_id, now=now)
        if lane is None:
            return
        if account_id not in self._primed and not ctx.baseline:
            self._primed.add(account_id)
            await self._prime(account_id, ctx.watched, now)
        decided = {e.entity_id for e in events if e.change in (Change.APPROVED, Change.REJECTED)}
        for entity_id, state, _ in seen:
            lane.observe(
                account_id, entity_id, state, changed=not ctx.baseline,
                decided=entity_id in decided, now=now,
            )  # fmt: skip
        lane.observe_events(account_id, events, now=now)
        lane.expire(now)

    async def _prime(self, account_id: str, watched: tuple[str, ...], now: float) -> None:
        """Every stored ad of the account in review, or stamped by Pinterest within the
        lane's window (an edit not yet reviewed), read once per process in chunks."""
        lane = self.lane
        assert lane is not None
        window = self._config.monitor.fast_window_s
        after: str | None = None
        while chunk := await self._store.load_range(
            account_id, Kind.AD, after=after, upto=None, limit=CHUNK
        ):
            for entity_id, stored in chunk:
                if stored.removed:
                    continue
                t = stored.updated_time
                recent = stamped_within(t, now=now, window_s=window)
                state = decode_state(watched, stored.blob)
                lane.observe(
                    account_id, entity_id, state, changed=recent, decided=False,
                    now=float(t) if recent and t is not None else now,
                )  # fmt: skip
            after = chunk[-1][0]

    async def poll_found(
        self, account_id: str, entity_ids: Sequence[str], mutes: Sequence[Mute]
    ) -> int:
        """The fast lane's pass over some ads of an account: look them up by id, diff and
        commit what changed like a cycle does (same differ, transaction and outbox); the
        lookup proves only what it returned, so nothing is ever removed by it. Returns the
        new events.

        Raises:
            PinterestError: The lookup failed (nothing was committed).
        """
        kind, row = Kind.AD, self._rows[Kind.AD]
        statuses = self._config.pinterest.entity_statuses
        found: list[msgspec.Raw] = []
        async for page in self._client.lookup_entities_raw(
            kind, account_id, entity_ids, entity_statuses=statuses
        ):
            found.extend(page)
        async with self._lock(account_id):
            info = await self._store.snapshot_info(account_id, kind, count_upto=1)
            if info.fields is None:
                return 0  # no baseline yet: the full cycle takes it
            watched = self._config.monitor.watch[kind]
            ctx = DiffContext(
                account_id=account_id,
                kind=kind,
                watched=watched,
                stored_fields=info.fields,
                detected_at=self._now(),
                pending_before=self._now() - _PENDING_LONG_S,
                trusted_until=self._client.now() + FUTURE_TOLERANCE_S,
            )
            stored = await self._store.load_entities(account_id, kind, entity_ids)
            diff = AccountDiff(ctx, stored)
            diff.feed_found(found, row)
            result = diff.finish(complete=False)
            _log_evidence(kind, result)
            events = await self._describe(account_id, kind, result.events)
            events = await self._annotate(account_id, events)
            new = await self._commit(ctx, info, result, events, mutes, mark=False)
            if self._count and (account_id, kind) in self.entity_counts:
                key = (account_id, kind)
                self.entity_counts[key] = summary_counts_after(self.entity_counts[key], events)
            await self._reminders.track(events, now=self._now())
            self._announce(ctx, result)
            await self._keep_review(ctx, result, events)
        return new

    async def _annotate(self, account_id: str, events: list[Event]) -> list[Event]:
        """Before a commit of ads: what the review clock, the landing-page check and the
        spend figures add (each bounded in time: the commit waits no longer)."""
        if self._clock is not None:
            events = await self._clock.annotate(account_id, events)
        if self._landing is not None:
            events = await self._check_landing(account_id, events)
        if self._spend is not None:
            events = await self._spend.annotate(events)
        return events

    async def _check_landing(self, account_id: str, events: list[Event]) -> list[Event]:
        """A rejection for a landing-page reason says what its page answers now (within
        the check's timeout: the alert waits no longer)."""
        assert self._landing is not None
        wanted = [
            e
            for e in events
            if e.change == Change.REJECTED
            and is_landing_rejection(e.state.get("rejected_reasons") or ())
        ]
        if not wanted:
            return events
        urls = {e.entity_id: e.state.get("destination_url") for e in wanted}
        if missing := [i for i, url in urls.items() if not url]:
            urls |= await self._destinations(account_id, missing)
        checks = await self._landing.check_many(u for u in urls.values() if isinstance(u, str))
        out = []
        for event in events:
            url = urls.get(event.entity_id)
            if isinstance(url, str) and url in checks:
                event = msgspec.structs.replace(event, landing_page=checks[url].as_dict())
            out.append(event)
        return out

    async def _destinations(self, account_id: str, ad_ids: list[str]) -> dict[str, str | None]:
        """The ads' destination URLs, looked up by id (they are not among the watched
        fields); none when the lookup fails (the alert goes without the check)."""
        found: dict[str, str | None] = {}
        try:
            async for page in self._client.lookup_entities_raw(
                Kind.AD, account_id, ad_ids, entity_statuses=self._config.pinterest.entity_statuses
            ):
                for raw in page:
                    try:
                        item = _DESTINATION.decode(raw)
                    except msgspec.MsgspecError:
                        continue
                    found[item.id] = item.destination_url
        except PinterestError as exc:
            log.warning("landing.lookup_failed", error=str(exc))
        return found

    async def name_parents(self, events: list[Event]) -> list[Event]:
        """The events with their campaign and ad group names, where known."""
        return await self._names.fill(events)

    async def _counts_before(self, ctx: DiffContext, info: SnapshotInfo) -> dict[str, int]:
        if info.fields is None:
            return {}
        key = (ctx.account_id, ctx.kind)
        if key not in self.entity_counts:
            # Once per process: later cycles move the counts by their events.
            self.entity_counts[key] = await count_stored(
                self._store, ctx.account_id, ctx.kind, info.fields, info.lengths
            )
        return self.entity_counts[key]

    async def _diff(self, ctx: DiffContext, info: SnapshotInfo) -> Listed:
        statuses = self._config.pinterest.entity_statuses
        row = self._rows[ctx.kind]
        try:
            if 0 < info.count <= self._config.monitor.stream_above:
                # A small account costs one query read whole, and its memory is small.
                return await diff_whole(ctx, self._client, self._store, row, statuses)
            # Big, or never seen (a first cycle does not know how big it will be: page
            # by page it writes as it goes).
            return await diff_in_order(
                ctx,
                self._client,
                self._store,
                row,
                statuses,
                lengths=info.lengths,
                empty=info.count == 0,
                version=info.version,
            )
        except OrderError as exc:
            # Pinterest documents ordering by id; if a listing ignores it, diff this
            # account against its whole snapshot instead (more memory, same result).
            log.warning("poll.unordered_listing", kind=ctx.kind.value, error=str(exc))
            return await diff_whole(ctx, self._client, self._store, row, statuses)

    async def _describe(self, account_id: str, kind: Kind, events: list[Event]) -> list[Event]:
        """The events with what people recognise: removed ones' last known ids and name
        (kept out of memory, in the stored meta), every one's campaign and ad group names."""
        if not events:
            return []
        gone = [e.entity_id for e in events if e.change == Change.REMOVED and e.name is None]
        metas = await self._store.entity_meta(account_id, kind, gone) if gone else {}
        out = []
        for event in events:
            meta = metas.get(event.entity_id) if event.change == Change.REMOVED else None
            if meta:
                campaign_id, ad_group_id, pin_id, name = decode_meta(meta)
                event = msgspec.structs.replace(
                    event,
                    campaign_id=event.campaign_id or campaign_id,
                    ad_group_id=event.ad_group_id or ad_group_id,
                    pin_id=pin_id,
                    name=name,
                )
            out.append(event)
        return await self._names.fill(out)

    async def _commit(
        self,
        ctx: DiffContext,
        info: SnapshotInfo,
        result: DiffResult,
        events: list[Event],
        mutes: Sequence[Mute],
        *,
        mark: bool = True,
        listed: Listed | None = None,
    ) -> int:
        """Snapshot rows, events and their deliveries in one transaction; returns the new
        events. Nothing changed, nothing written: most cycles of most accounts skip it
        (it matters with hundreds of accounts on one database), but for a hash index
        collected by this cycle, stored on its own. ``listed=None`` (the fast lane's
        lookups): the stored index is brought up to date with the rows in the commit."""
        index = None if listed is None else listed.index
        if not (result.rows or events or (mark and info.fields != ctx.watched)):
            if listed is not None and listed.collected and index is not None:
                await self._store.save_hash_index(ctx.account_id, ctx.kind, index)
            return 0
        planned = plan(events, self._config.routes, mutes, self._targets)
        for event, mute in planned.muted:
            # Recorded in the history, not sent: that is what a mute means.
            log.info("event.muted", event_id=event.id, type=event.type, mute=mute.key)
        return await self._store.commit_cycle(
            ctx.account_id,
            ctx.kind,
            fields=ctx.watched,
            rows=result.rows,
            events=events,
            deliveries=planned.rows,
            at=self._now(),
            mark=mark,
            index=index,
            refresh_index=listed is None,
        )

    def _announce(self, ctx: DiffContext, result: DiffResult) -> None:
        if ctx.baseline:
            log.info("poll.baseline", kind=ctx.kind.value, entities=result.seen)
        for event in result.events:
            log.info(
                "event.detected", event_id=event.id, type=event.type, entity_id=event.entity_id
            )
            if self._on_event is not None:
                self._on_event(event.type)


class _Destination(msgspec.Struct):
    id: str
    destination_url: str | None = None


_DESTINATION: Final = msgspec.json.Decoder(_Destination)


def _log_evidence(kind: Kind, result: DiffResult) -> None:
    """Warn about what the listing sent that could not be taken at its word."""
    for bad in result.bad[:_QUOTED_IDS]:
        log.warning(
            "poll.bad_item", kind=kind.value, page=bad.page, excerpt=bad.excerpt, error=bad.error
        )
    if result.bad:
        # Any of the skipped items may be an entity that is still there.
        log.warning("poll.bad_items_skipped", kind=kind.value, skipped=len(result.bad))
    if result.untrusted:
        log.warning(
            "poll.untrusted_updated_time",
            kind=kind.value,
            count=len(result.untrusted),
            ids=result.untrusted[:_QUOTED_IDS],
        )
    if result.unknown:
        log.warning(
            "poll.fields_unknown",
            kind=kind.value,
            count=len(result.unknown),
            ids=result.unknown[:_QUOTED_IDS],
        )
    if result.stale:
        log.info("poll.stale_entries", kind=kind.value, stale=result.stale)
