"""One poll cycle: list every watched account, diff each listing, commit events and outbox rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import msgspec
import structlog

from monitor.config import Config
from monitor.differ import DiffContext, DiffResult, OrderError
from monitor.errors import AuthError, ListingError, MonitorError, PinterestError
from monitor.events import Event
from monitor.evidence import FUTURE_TOLERANCE_S
from monitor.listing import count_stored, diff_in_order, diff_whole
from monitor.models import Kind, Row, row_type
from monitor.mutes import Mute, muted_by
from monitor.names import ParentNames
from monitor.normal import cap_text, decode_meta
from monitor.notify import Notifier
from monitor.ops import OpsChange, account_ops_events, ops_event
from monitor.pinterest import PinterestClient
from monitor.reminders import Reminders
from monitor.removals import RemovalProof
from monitor.replicas import Replica
from monitor.router import match_routes
from monitor.status import summary_counts, summary_counts_after
from monitor.store import AccountState, StateStore

log = structlog.get_logger("monitor.poll")

#: Account names are re-read this often, so a renamed account shows its new name.
_NAMES_TTL_S = 3600.0


@dataclass(frozen=True, slots=True)
class AccountResult:
    """How one account's part of a cycle ended."""

    account_id: str
    ok: bool
    events: int = 0
    entities: int = 0
    error: str | None = None
    state: AccountState | None = None


@dataclass(slots=True)
class CycleReport:
    """What one cycle did, for logs, exit codes and tests."""

    cycle_id: str
    accounts: list[AccountResult] = field(default_factory=list)
    error: str | None = None
    reminders: int = 0

    @property
    def ok(self) -> bool:
        """Every account completed (and the account list itself could be read)."""
        return self.error is None and all(a.ok for a in self.accounts)

    @property
    def events(self) -> int:
        """New events committed in this cycle."""
        return sum(a.events for a in self.accounts) + self.reminders


class Poller:
    """Runs poll cycles: the client feeds the differ, the store commits the outcome."""

    def __init__(
        self,
        config: Config,
        *,
        client: PinterestClient,
        store: StateStore,
        notifiers: Mapping[str, Sequence[Notifier]],
        now: Callable[[], float] = time.time,
        on_event: Callable[[str], None] | None = None,
        replica: Replica | None = None,
    ) -> None:
        self._config = config
        self.replica = replica
        self._on_event = on_event
        # Per (account, kind): live entities by summary_status after the last commit.
        self.entity_counts: dict[tuple[str, Kind], dict[str, int]] = {}
        self._client = client
        self._store = store
        self._notifiers = notifiers
        self._now = now
        self._rows: dict[Kind, type[Row]] = {
            kind: row_type(kind, config.monitor.watch[kind]) for kind in config.monitor.entities
        }
        self.account_names: dict[str, str] = {}
        self._named_at = float("-inf")
        self._report_existing = config.monitor.report_on_start
        self._mutes: list[Mute] = []
        self._successes: list[tuple[str, str | None]] = []
        self._reminders = Reminders(store, config.routes, notifiers, record=self._record_reminders)
        self._names = ParentNames(client, entity_statuses=config.pinterest.entity_statuses)
        self._proof = RemovalProof(client, store, entity_statuses=config.pinterest.entity_statuses)

    def report_next_baselines(self) -> None:
        """Make every baseline from now on report what stands (the state was lost: a
        silent one would hide every change since the last cycle)."""
        self._report_existing = True

    async def accounts(self) -> list[str]:
        """The configured accounts, or every account the token can see.

        Either way their names are learnt (people recognise "Acme", not 549755885175):
        listed accounts name themselves; configured ones are named from one listing of
        the token's accounts an hour, and, failing that, from what the store remembers.
        """
        configured = self._config.pinterest.ad_accounts
        if not self.account_names:
            for state in await self._store.accounts():
                if state.name:
                    self.account_names[state.account_id] = state.name
        if configured:
            if self._now() - self._named_at >= _NAMES_TTL_S:
                await self._name_configured(configured)
            return list(configured)
        ids: list[str] = []
        async for page in self._client.list_ad_accounts():
            for account in page:
                if account.id not in ids:
                    ids.append(account.id)
                if account.name:
                    self.account_names[account.id] = cap_text(account.name)
        self._named_at = self._now()
        return ids

    async def _name_configured(self, configured: Sequence[str]) -> None:
        wanted = set(configured)
        try:
            async for page in self._client.list_ad_accounts():
                for account in page:
                    if account.id in wanted and account.name:
                        self.account_names[account.id] = cap_text(account.name)
        except PinterestError as exc:
            # Names are a nicety: the cycle goes on with ids (or the remembered names).
            log.info("poll.account_names_failed", error=str(exc))
            return
        self._named_at = self._now()

    async def run_cycle(self) -> CycleReport:
        """Poll every account once, concurrently up to the configured limit."""
        report = CycleReport(cycle_id=uuid.uuid4().hex[:12])
        with structlog.contextvars.bound_contextvars(cycle_id=report.cycle_id):
            started = time.monotonic()
            try:
                account_ids = await self.accounts()
            except PinterestError as exc:
                report.error = str(exc)
                log.error("poll.accounts_failed", error=str(exc), status=exc.status)
                if isinstance(exc, AuthError):
                    last_ok = max(
                        (a.last_success_at or 0 for a in await self._store.accounts()), default=0
                    )
                    await self.emit(
                        [
                            ops_event(
                                OpsChange.AUTH_FAILED,
                                subject="token",
                                at=self._now(),
                                occurrence=f"{last_ok}",
                                detail={"error": str(exc)},
                            )
                        ]
                    )
                return report
            if self.replica is not None:
                # Several replicas share the accounts: poll only those leased to this one.
                account_ids = await self.replica.accounts_to_poll(account_ids)
            limiter = anyio.CapacityLimiter(self._config.monitor.concurrency)
            before = {a.account_id: a for a in await self._store.accounts()}
            self._mutes = await self._store.mutes(now=self._now())

            async def one(account_id: str) -> None:
                async with limiter:
                    result, error = await self._poll_account(account_id)
                    report.accounts.append(result)
                    await self._account_health(before.get(account_id), result, error)

            async with anyio.create_task_group() as tg:
                for account_id in account_ids:
                    tg.start_soon(one, account_id)
            await self._flush_successes()
            reminded = await self._reminders.send_due(
                now=self._now(), muted=lambda e: muted_by(e, self._mutes) is not None
            )
            if reminded:
                report.reminders = reminded
            log.info(
                "cycle.completed",
                accounts=len(account_ids),
                failed=sum(not a.ok for a in report.accounts),
                events=report.events,
                duration_s=round(time.monotonic() - started, 3),
            )
        return report

    async def poll_accounts(self, account_ids: Sequence[str]) -> None:
        """Poll some accounts now, outside the cycle (accounts taken over from a replica)."""
        started = time.monotonic()
        before = {a.account_id: a for a in await self._store.accounts()}
        limiter = anyio.CapacityLimiter(self._config.monitor.concurrency)

        async def one(account_id: str) -> None:
            async with limiter:
                result, error = await self._poll_account(account_id)
                await self._account_health(before.get(account_id), result, error)

        async with anyio.create_task_group() as tg:
            for account_id in account_ids:
                tg.start_soon(one, account_id)
        await self._flush_successes()
        log.info(
            "replica.takeover_polled",
            accounts=len(account_ids),
            duration_s=round(time.monotonic() - started, 3),
        )

    async def _flush_successes(self) -> None:
        polls, self._successes = self._successes, []
        await self._store.record_successes(polls, at=self._now())

    async def _account_health(
        self, prev: AccountState | None, result: AccountResult, error: Exception | None
    ) -> None:
        if result.state is None:
            return
        await self.emit(
            account_ops_events(
                prev,
                result.state,
                error,
                failing_after=self._config.monitor.failing_after,
                at=self._now(),
            )
        )

    async def _record_reminders(
        self, events: Sequence[Event], deliveries: Sequence[tuple[str, str, str]]
    ) -> None:
        await self._store.record_events(events, deliveries=deliveries, at=self._now())

    async def emit(self, events: Sequence[Event], exclude: Collection[str] = ()) -> None:
        """Commit ``monitor.*`` events to the history and the outbox (not to the targets
        in ``exclude``: a report about a dead target is not sent to it)."""
        if not events:
            return
        deliveries = [d for d in self._deliveries(events) if d[2] not in exclude]
        new = await self._store.record_events(events, deliveries=deliveries, at=self._now())
        for event in events[:new] if new else ():
            log.warning("monitor.event", type=event.type, subject=event.entity_id)
            if self._on_event is not None:
                self._on_event(event.type)

    def _deliveries(self, events: Sequence[Event]) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for event in events:
            mute = muted_by(event, self._mutes)
            if mute is not None:
                # Recorded in the history, not sent: that is what a mute means.
                log.info("event.muted", event_id=event.id, type=event.type, mute=mute.key)
                continue
            out.extend(
                (event.id, route.name, notifier.key)
                for route in match_routes(event, self._config.routes)
                for notifier in self._notifiers.get(route.name, ())
            )
        return out

    async def _with_meta(self, account_id: str, kind: Kind, events: list[Event]) -> list[Event]:
        """Fill removed events' ids and name from the stored meta (kept out of memory)."""
        gone = [e.entity_id for e in events if e.change == "removed" and e.name is None]
        if not gone:
            return events
        metas = await self._store.entity_meta(account_id, kind, gone)
        out = []
        for event in events:
            meta = metas.get(event.entity_id) if event.change == "removed" else None
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
        return out

    async def _poll_account(self, account_id: str) -> tuple[AccountResult, Exception | None]:
        with structlog.contextvars.bound_contextvars(account_id=account_id):
            started = time.monotonic()
            events = entities = 0
            try:
                for kind in self._config.monitor.entities:
                    new, seen = await self._poll_kind(account_id, kind)
                    events += new
                    entities += seen
            except Exception as exc:
                # A failed or partial listing is dropped whole: nothing is committed, so no
                # entity is ever reported removed because a page failed. Anything else that
                # goes wrong stays local to this account too: the others carry on.
                error = str(exc) or type(exc).__name__
                if isinstance(exc, MonitorError):
                    log.warning("poll.failed", error=error, error_type=type(exc).__name__)
                else:
                    log.exception("poll.crashed", error_type=type(exc).__name__)
                state = await self._store.record_poll(
                    account_id,
                    name=self.account_names.get(account_id),
                    ok=False,
                    at=self._now(),
                    error=error,
                )
                return AccountResult(account_id, ok=False, error=error, state=state), exc
            # Successes are written together at the end of the cycle (one transaction, not
            # one per account); failures are written at once, their counts matter now.
            now, name = self._now(), self.account_names.get(account_id)
            self._successes.append((account_id, name))
            state = AccountState(account_id, name, now, now, None, 0)
            log.info(
                "poll.completed",
                entities=entities,
                events=events,
                duration_s=round(time.monotonic() - started, 3),
            )
            return AccountResult(
                account_id, ok=True, events=events, entities=entities, state=state
            ), None

    def entity_totals(self) -> dict[Kind, dict[str, int]]:
        """Live entities by kind and summary_status, summed over accounts."""
        totals: dict[Kind, dict[str, int]] = {}
        for (_, kind), counts in self.entity_counts.items():
            into = totals.setdefault(kind, {})
            for status, n in counts.items():
                into[status] = into.get(status, 0) + n
        return totals

    async def _poll_kind(self, account_id: str, kind: Kind) -> tuple[int, int]:
        watched = self._config.monitor.watch[kind]
        statuses = self._config.pinterest.entity_statuses
        row = self._rows[kind]
        info = await self._store.snapshot_info(account_id, kind)
        fields = info.fields
        key = (account_id, kind)
        if fields and key not in self.entity_counts:
            # Once per process: later cycles move the counts by their events.
            self.entity_counts[key] = await count_stored(
                self._store, account_id, kind, fields, info.lengths
            )
        before = self.entity_counts.get(key, {}) if fields else {}
        ctx = DiffContext(
            account_id=account_id,
            kind=kind,
            watched=watched,
            stored_fields=fields or watched,
            detected_at=self._now(),
            baseline=fields is None,
            report_existing=self._report_existing,
            pending_before=self._now() - 86_400.0,
            trusted_until=self._client.now() + FUTURE_TOLERANCE_S,
        )
        try:
            try:
                if 0 < info.count <= self._config.monitor.stream_above:
                    # A small account costs one query read whole, and its memory is small.
                    diff = await diff_whole(ctx, self._client, self._store, row, statuses)
                else:
                    # Big, or never seen (a first cycle does not know how big it will be:
                    # page by page it writes as it goes).
                    diff = await diff_in_order(
                        ctx,
                        self._client,
                        self._store,
                        row,
                        statuses,
                        lengths=info.lengths,
                        empty=info.count == 0,
                    )
            except OrderError as exc:
                # Pinterest documents ordering by id; if a listing ignores it, diff this
                # account against its whole snapshot instead (more memory, same result).
                log.warning("poll.unordered_listing", kind=kind.value, error=str(exc))
                diff = await diff_whole(ctx, self._client, self._store, row, statuses)
        except msgspec.MsgspecError as exc:
            raise ListingError(
                f"{kind.plural} listing: an item is not a valid {kind.value}: {exc}"
            ) from None
        # A baseline reports nothing, so what it lacks needs no proof.
        gone = None if ctx.baseline else await self._proof.confirm(diff, account_id, kind, row)
        result = diff.finish(complete=True, gone=gone)
        _log_evidence(kind, result)
        events = await self._with_meta(account_id, kind, result.events)
        events = await self._names.fill(events) if events else []
        deliveries = self._deliveries(events)
        new = 0
        if result.rows or events or fields != watched:
            # Nothing changed, nothing to write: most cycles of most accounts skip the
            # transaction (it matters with hundreds of accounts on one database).
            new = await self._store.commit_cycle(
                account_id,
                kind,
                fields=watched,
                rows=result.rows,
                events=events,
                deliveries=deliveries,
                at=self._now(),
            )
        self.entity_counts[key] = (
            summary_counts((r.stored for r in result.rows), watched)
            if ctx.baseline
            else summary_counts_after(before, result.events)
        )
        await self._reminders.track(events, now=self._now())
        if ctx.baseline:
            log.info("poll.baseline", kind=kind.value, entities=result.seen)
        for event in result.events:
            log.info(
                "event.detected", event_id=event.id, type=event.type, entity_id=event.entity_id
            )
            if self._on_event is not None:
                self._on_event(event.type)
        return new, result.seen


#: Ids quoted in one warning: enough to look into, not a page of them.
_QUOTED_IDS = 10


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
