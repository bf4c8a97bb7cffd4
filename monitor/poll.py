"""One poll cycle: list every watched account, diff each listing, commit events and outbox rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from monitor.analytics import SpendFigures
from monitor.config import Config
from monitor.cycle import KindPoller
from monitor.errors import AuthError, MonitorError, PinterestError
from monitor.events import Event
from monitor.landing import LandingChecker, LandingWatch
from monitor.lane import ReviewLane
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.normal import cap_text
from monitor.notify import Notifier
from monitor.ops import OpsChange, account_ops_events, ops_event
from monitor.outbox import Reports
from monitor.pinterest import PinterestClient
from monitor.pinterest.params import MAX_FILTER_IDS
from monitor.recap import Recaps
from monitor.reminders import Reminders
from monitor.replicas import Replica
from monitor.review_clock import ReviewClock
from monitor.store import AccountState, StateStore

log = structlog.get_logger("monitor.poll")

#: Account names are re-read this often, so a renamed account shows its new name.
_NAMES_TTL_S = 3600.0
#: Parents are polled before their children, so that an ad's event is named from the
#: campaign listing of the same cycle (see ``ParentNames``).
_PARENTS_FIRST = (Kind.CAMPAIGN, Kind.AD_GROUP, Kind.AD)


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
    #: still_rejected reminders and review_stuck reports committed after the accounts.
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
    """Runs poll cycles over every watched account: each account's kinds are polled by a
    :class:`~monitor.cycle.KindPoller`; its health and the reminders due are reported.

    Args:
        config: The whole config.
        client: The Pinterest client.
        store: The state store.
        notifiers: Each route's targets, by route name.
        now: Wall clock (injected in tests).
        on_event: Called with the type of every event detected (metrics).
        replica: With replicas on PostgreSQL: which accounts are this one's to poll.
        reports: Where pinmon's reports about itself are committed; by default one
            routed like the config says.
        count_entities: Keep the entity counts ``/metrics`` shows (see ``KindPoller``).
        fast_lane: Keep the review fast lane (a daemon, when ``fast_interval`` is set;
            ``run --once`` has no use for it).
        landing: Checks landing pages (``[landing_pages]``), None when off.
        spend: Attaches spend figures to rejections and reminders (``[analytics]``).
    """

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
        reports: Reports | None = None,
        count_entities: bool = True,
        fast_lane: bool = False,
        landing: LandingChecker | None = None,
        spend: SpendFigures | None = None,
    ) -> None:
        self._config = config
        self.replica = replica
        self._client = client
        self._store = store
        self._now = now
        targets = {route: [n.key for n in ns] for route, ns in notifiers.items()}
        self.reports = reports or Reports(store, config.routes, targets, now=now, on_new=on_event)
        self.account_names: dict[str, str] = {}
        self._named_at = float("-inf")
        self._mutes: list[Mute] = []
        self._successes: list[tuple[str, str | None]] = []
        self._reminders = Reminders(
            store,
            config.routes,
            targets,
            now=now,
            enrich=spend.annotate if spend is not None else None,
        )
        self._clock = ReviewClock(store, config, targets, now=now, on_event=on_event)
        self.recaps = Recaps(store, config, targets, now=now)
        self._landing_watch = (
            LandingWatch(store, config, landing, targets, now=now)
            if landing is not None and config.landing.check_every_s
            else None
        )
        self._lane_capped = False
        mon = config.monitor
        self._kinds = KindPoller(
            config,
            client=client,
            store=store,
            targets=targets,
            reminders=self._reminders,
            now=now,
            on_event=on_event,
            count=count_entities,
            lane=ReviewLane(mon.fast_window_s) if fast_lane and mon.fast_interval_s else None,
            clock=self._clock,
            landing=landing if config.landing.on_rejection else None,
            spend=spend,
        )

    @property
    def entity_counts(self) -> dict[tuple[str, Kind], dict[str, int]]:
        """Per (account, kind): live entities by summary_status after the last commit."""
        return self._kinds.entity_counts

    def report_next_baselines(self) -> None:
        """Make every baseline from now on report what stands (the state was lost: a
        silent one would hide every change since the last cycle)."""
        self._kinds.report_existing = True

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
                    await self._token_refused(exc)
                return report
            if self.replica is not None:
                # Several replicas share the accounts: poll only those leased to this one.
                account_ids = await self.replica.accounts_to_poll(account_ids)
            report.accounts = await self._poll_all(account_ids)
            report.reminders = await self._reminders.send_due(mutes=self._mutes)
            report.reminders += await self._clock.send_due(
                mutes=self._mutes, describe=self._kinds.name_parents
            )
            report.reminders += await self.send_recaps()
            if self._landing_watch is not None:
                report.reminders += await self._landing_watch.send_due(
                    mutes=self._mutes, describe=self._kinds.name_parents
                )
            log.info(
                "cycle.completed",
                accounts=len(account_ids),
                failed=sum(not a.ok for a in report.accounts),
                events=report.events,
                duration_s=round(time.monotonic() - started, 3),
            )
        return report

    async def send_recaps(self) -> int:
        """Commit the daily recaps whose time has come (see :mod:`monitor.recap`)."""
        if not self.recaps.enabled:
            return 0
        return await self.recaps.send_due(mutes=self._mutes, describe=self._kinds.name_parents)

    async def poll_accounts(self, account_ids: Sequence[str]) -> None:
        """Poll some accounts now, outside the cycle (accounts taken over from a replica)."""
        started = time.monotonic()
        await self._poll_all(account_ids)
        log.info(
            "replica.takeover_polled",
            accounts=len(account_ids),
            duration_s=round(time.monotonic() - started, 3),
        )

    async def _poll_all(self, account_ids: Sequence[str]) -> list[AccountResult]:
        before = {a.account_id: a for a in await self._store.accounts()}
        self._mutes = await self._store.mutes(now=self._now())
        limiter = anyio.CapacityLimiter(self._config.monitor.concurrency)
        results: list[AccountResult] = []

        async def one(account_id: str) -> None:
            async with limiter:
                result, error = await self._poll_account(account_id)
                results.append(result)
                await self._account_health(before.get(account_id), result, error)

        async with anyio.create_task_group() as tg:
            for account_id in account_ids:
                tg.start_soon(one, account_id)
        polls, self._successes = self._successes, []
        await self._store.record_successes(polls, at=self._now())
        return results

    async def _token_refused(self, exc: AuthError) -> None:
        last_ok = max((a.last_success_at or 0 for a in await self._store.accounts()), default=0)
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

    async def emit(self, events: Sequence[Event], exclude: Collection[str] = ()) -> None:
        """Commit ``monitor.*`` events to the history and the outbox (not to the targets
        in ``exclude``: a report about a dead target is not sent to it)."""
        await self.reports.emit(events, exclude)

    async def _poll_account(self, account_id: str) -> tuple[AccountResult, Exception | None]:
        with structlog.contextvars.bound_contextvars(account_id=account_id):
            started = time.monotonic()
            events = entities = 0
            try:
                for kind in sorted(self._config.monitor.entities, key=_PARENTS_FIRST.index):
                    new, seen = await self._kinds.poll(account_id, kind, self._mutes)
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

    @property
    def lane(self) -> ReviewLane | None:
        """The review fast lane (None: off)."""
        return self._kinds.lane

    async def run_fast_pass(self) -> int:
        """Look up the ads in the review fast lane by id, within its share of the budget
        (those not asked about for longest first, see ``ReviewLane.due``); returns the new
        events.

        A failed lookup is logged and costs that account only this pass.
        """
        lane = self._kinds.lane
        if lane is None or not lane.size():
            return 0
        mon, p = self._config.monitor, self._config.pinterest
        requests = max(1, int(mon.fast_share * p.requests_per_minute * mon.fast_interval_s / 60))
        capacity = requests * MAX_FILTER_IDS
        if lane.size() > capacity and not self._lane_capped:
            # Said once: a lane this full stays so for a while.
            self._lane_capped = True
            log.warning("fastlane.capped", ads=lane.size(), per_pass=capacity, share=mon.fast_share)
        elif lane.size() <= capacity:
            self._lane_capped = False
        mutes = await self._store.mutes(now=self._now())
        new = 0
        for account_id, ids in lane.due(capacity).items():
            with structlog.contextvars.bound_contextvars(account_id=account_id):
                try:
                    lane.asked(account_id, ids, now=self._now())
                    new += await self._kinds.poll_found(account_id, ids, mutes)
                except PinterestError as exc:
                    log.warning("fastlane.failed", ads=len(ids), error=str(exc))
        age = lane.oldest_age_s(self._now())
        log.info(
            "fastlane.pass", ads=min(lane.size(), capacity), in_lane=lane.size(), events=new,
            oldest_s=None if age is None else round(age),
        )  # fmt: skip
        return new

    def entity_totals(self) -> dict[Kind, dict[str, int]]:
        """Live entities by kind and summary_status, summed over accounts."""
        totals: dict[Kind, dict[str, int]] = {}
        for (_, kind), counts in self.entity_counts.items():
            into = totals.setdefault(kind, {})
            for status, n in counts.items():
                into[status] = into.get(status, 0) + n
        return totals
