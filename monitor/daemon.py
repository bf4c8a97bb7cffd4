"""The daemon: wires config to client, store and notifiers; owns the clock, signals and shutdown."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import anyio
import structlog

from monitor import __version__
from monitor.config import Config
from monitor.delivery import Deliverer, DrainReport
from monitor.errors import MonitorError
from monitor.health import Health, serve_health
from monitor.landing import LandingChecker
from monitor.metrics import Metrics
from monitor.notify import Notifier, SendResult
from monitor.notify.guard import guarded_session
from monitor.ops import OpsChange, ops_event
from monitor.outbox import Reports
from monitor.pinterest import PinterestClient
from monitor.poll import CycleReport, Poller
from monitor.redact import DEFAULT, register_config_secrets
from monitor.replicas import Replica, ReplicaCoordinator
from monitor.schedule import next_cycle_start
from monitor.store import Delivery, StateStore
from monitor.store.factory import is_postgres_url, open_state
from monitor.store.lock import StateLock
from monitor.summary import outbox_summary
from monitor.targets import save_labels
from monitor.wiring import build_notifiers, make_client, make_spend

if TYPE_CHECKING:
    import aiohttp.web

log = structlog.get_logger("monitor.daemon")

#: Exit codes of `pinmon run`.
EXIT_OK = 0
EXIT_POLL_FAILED = 1
EXIT_DELIVERY_FAILED = 3


@dataclass(slots=True)
class Runtime:
    """Everything one daemon run holds open."""

    config: Config
    store: StateStore
    poller: Poller
    deliverer: Deliverer
    notifiers: dict[str, Notifier]
    client: PinterestClient
    metrics: Metrics
    health: Health
    now: Callable[[], float]


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    now: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    on_result: Callable[..., None] | None = None,
    fast_lane: bool = False,
) -> AsyncIterator[Runtime]:
    """Open the store, the HTTP session and the notifiers; close them all on exit
    (``fast_lane``: keep the review fast lane, for a daemon that runs its passes)."""
    # The default redactor is the one logging scrubs with: fill it before anything logs.
    redactor = register_config_secrets(config, DEFAULT)
    metrics = Metrics(now=now, redactor=redactor)
    health = Health(interval_s=config.monitor.interval_s, now=monotonic, redactor=redactor)

    def on_send(batch: Sequence[Delivery], result: SendResult) -> None:
        metrics.send_result(batch, result)
        if on_result is not None:
            on_result(batch, result)

    lock = None if is_postgres_url(config.monitor.state) else StateLock(Path(config.monitor.state))
    if lock is not None:
        lock.acquire()  # before anything reads the file: a second daemon stops here
    try:
        store = await open_state(config.monitor.state)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    replica: Replica | None = None
    health.store_opened()
    try:
        async with (
            aiohttp.ClientSession(
                headers={"User-Agent": f"pinmon/{__version__}"}, raise_for_status=False
            ) as session,
            guarded_session() as webhook_session,
        ):
            notifiers, by_route = build_notifiers(
                config, session=webhook_session, redactor=redactor, threads=store, now=now
            )
            # So that `pinmon deliveries` and `status` can name targets without apprise.
            await save_labels(store, notifiers)
            client = await make_client(
                config, session, store, now=now, on_response=metrics.api_response
            )
            replica = (
                Replica(store, interval_s=config.monitor.interval_s, now=now)
                if isinstance(store, ReplicaCoordinator)
                else None
            )
            targets = {route: [n.key for n in ns] for route, ns in by_route.items()}
            reports = Reports(store, config.routes, targets, now=now, on_new=metrics.event)
            landing = (
                LandingChecker(config.landing, webhook_session, now=now)
                if config.landing.on_rejection or config.landing.check_every_s
                else None
            )
            spend = make_spend(config, client, store, now=now)
            poller = Poller(
                config,
                client=client,
                store=store,
                notifiers=by_route,
                now=now,
                on_event=metrics.event,
                replica=replica,
                reports=reports,
                # Only /metrics shows them; counting starts by reading every stored row.
                count_entities=config.monitor.listen is not None,
                fast_lane=fast_lane,
                landing=landing,
                spend=spend,
            )
            deliverer = Deliverer(
                store,
                notifiers,
                send_timeout_s=config.monitor.send_timeout_s,
                now=now,
                monotonic=monotonic,
                on_result=on_send,
                emit=reports.emit,
                routes=config.routes,
                fetch_due=(
                    replica.claimer(lease_s=2 * config.monitor.send_timeout_s + 10)
                    if replica is not None
                    else None
                ),
            )
            rt = Runtime(config, store, poller, deliverer, notifiers, client, metrics, health, now)
            listen = config.monitor.listen
            if listen is None:
                yield rt
            else:
                async with serve_health(
                    health,
                    metrics,
                    host=listen[0],
                    port=listen[1],
                    on_scrape=lambda: refresh_outbox(rt),
                    mount=board_mount(config, store, listen[0]),
                ) as server:
                    log.info("health.listening", host=server.host, port=server.port)
                    yield rt
    finally:
        if replica is not None:
            await replica.release()
        health.store_closed()
        try:
            await store.close()
        finally:
            if lock is not None:
                lock.release()


def board_mount(
    config: Config, store: StateStore, host: str
) -> Callable[[aiohttp.web.Application], None] | None:
    """Mount the web board beside the health endpoints, unless the address is not
    loopback and there is no ``[web] token`` (then /healthz and /metrics stay, alone)."""
    from monitor.web.app import mount_board
    from monitor.web.guard import is_loopback

    token = config.web.token.reveal() if config.web.token is not None else None
    if token is None and not is_loopback(host):
        log.warning("web.board_off", host=host, reason="not loopback and no [web] token")
        return None

    def mount(app: aiohttp.web.Application) -> None:
        mount_board(
            app,
            store=store,
            host=host,
            token=token,
            routes=config.routes,
            retention_s=config.monitor.retention_s,
        )

    return mount


async def refresh_outbox(rt: Runtime) -> None:
    """Read the outbox gauges from the store (at scrape time and after each cycle)."""
    outbox = await outbox_summary(rt.store, now=rt.now(), statuses=("pending",))
    rt.metrics.outbox(outbox.pending, outbox.oldest_pending_age_s)


async def observe_cycle(rt: Runtime, report: CycleReport, duration_s: float) -> None:
    """Feed one finished cycle to the metrics and the health state."""
    rt.metrics.cycle_completed(duration_s, report.ok)
    error = report.error or next((a.error for a in report.accounts if a.error), None)
    rt.health.cycle_finished(ok=report.ok, error=error)
    limit = rt.client.rate_limit
    rt.metrics.rate_limit_remaining(None if limit is None else limit.remaining)
    for kind, counts in rt.poller.entity_totals().items():
        rt.metrics.entities(kind.value, counts)
    observe_lane(rt)
    await refresh_outbox(rt)


def observe_lane(rt: Runtime) -> None:
    """The fast lane's size and oldest wait, for /metrics and the log."""
    lane = rt.poller.lane
    if lane is not None:
        rt.metrics.fast_lane(lane.size(), lane.oldest_age_s(rt.now()))


async def run_once(config: Config, **kw: object) -> int:
    """One full cycle, then deliver what it produced (and anything due); returns an exit code."""
    async with open_runtime(config, **kw) as rt:  # type: ignore[arg-type]
        started = time.monotonic()
        report = await rt.poller.run_cycle()
        await observe_cycle(rt, report, time.monotonic() - started)
        drained = await rt.deliverer.drain()
        await _prune(rt, now=time.time())
    return _exit_code(report, drained)


def _exit_code(report: CycleReport, drained: DrainReport) -> int:
    if not report.ok:
        return EXIT_POLL_FAILED
    if drained.failed or drained.dead:
        return EXIT_DELIVERY_FAILED
    return EXIT_OK


async def run_forever(
    config: Config,
    *,
    stop: anyio.Event | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep_until: Callable[[float], Awaitable[None]] | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    handle_signals: bool = True,
    fast_wait: Callable[[float], Awaitable[None]] | None = None,
    **kw: object,
) -> int:
    """Poll every interval until SIGTERM/SIGINT (or ``stop``), then shut down gracefully.

    Polling stops at once; deliveries already under way get ``shutdown_grace`` to finish.
    Whatever is left stays in the outbox for the next start. ``fast_wait`` waits for the
    fast lane's next pass (injected in tests; by default it sleeps like the cycles).
    """
    stop = stop or anyio.Event()
    mon = config.monitor

    async def default_sleep_until(deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - monotonic()))

    wait = sleep_until or default_sleep_until
    fast = mon.fast_interval_s > 0
    async with (
        open_runtime(config, fast_lane=fast, **kw) as rt,  # type: ignore[arg-type]
        anyio.create_task_group() as tg,
    ):
        if handle_signals:
            tg.start_soon(_watch_signals, stop)
        delivery_scope = anyio.CancelScope()
        delivered = anyio.Event()

        async def deliver() -> None:
            with delivery_scope:
                await rt.deliverer.run()
            delivered.set()

        tg.start_soon(deliver)
        if rt.poller.replica is not None:

            async def took_over(accounts: list[str]) -> None:
                await rt.poller.poll_accounts(accounts)
                rt.deliverer.wake()

            tg.start_soon(rt.poller.replica.keep_alive, took_over)
        poll_scope = anyio.CancelScope()

        async def poll() -> None:
            with poll_scope:
                started = monotonic()
                while True:
                    cycle_started = monotonic()
                    await check_state(rt)
                    report = await rt.poller.run_cycle()
                    await observe_cycle(rt, report, monotonic() - cycle_started)
                    if report.events:
                        rt.deliverer.wake()
                    await _prune(rt, now=time.time())
                    if on_cycle is not None:
                        on_cycle(report)
                    await wait(
                        next_cycle_start(
                            started,
                            monotonic(),
                            mon.interval_s,
                            jitter_s=mon.jitter_s,
                            jitter=random.random(),
                        )
                    )

        tg.start_soon(poll)

        fast_scope = anyio.CancelScope()
        if fast:
            tg.start_soon(_fast_lane, rt, fast_scope, monotonic, fast_wait or default_sleep_until)
        recap_scope = anyio.CancelScope()
        if rt.poller.recaps.enabled:
            tg.start_soon(_recap_clock, rt, recap_scope)
        await stop.wait()
        log.info("daemon.stopping", grace_s=mon.shutdown_grace_s)
        poll_scope.cancel()
        fast_scope.cancel()
        recap_scope.cancel()
        # Let in-flight sends finish (and what is due go out), within the grace period;
        # whatever is left stays in the outbox for the next start.
        rt.deliverer.stop()
        with anyio.move_on_after(mon.shutdown_grace_s):
            await delivered.wait()
        delivery_scope.cancel()
        tg.cancel_scope.cancel()
    log.info("daemon.stopped")
    return EXIT_OK


async def _fast_lane(
    rt: Runtime,
    scope: anyio.CancelScope,
    monotonic: Callable[[], float],
    wait: Callable[[float], Awaitable[None]],
) -> None:
    """The review fast lane's passes, every ``fast_interval`` until ``scope`` is cancelled.

    Its own task on its own clock: a slow lookup never holds up a full cycle (they share
    only the store's short transactions and the request budget).
    """
    with scope:
        started = monotonic()
        while True:
            await wait(next_cycle_start(started, monotonic(), rt.config.monitor.fast_interval_s))
            try:
                if await rt.poller.run_fast_pass():
                    rt.deliverer.wake()
            except MonitorError as exc:
                log.warning("fastlane.failed", error=str(exc))
            observe_lane(rt)


async def _recap_clock(rt: Runtime, scope: anyio.CancelScope) -> None:
    """Send each daily recap at its time, not at the next cycle after it. Looks at the
    wall clock at least every minute, so a clock set right is followed."""
    with scope:
        try:
            await rt.poller.recaps.prime()
        except MonitorError as exc:
            log.warning("recap.failed", error=str(exc))
        while True:
            due = rt.poller.recaps.next_at(rt.now())
            await anyio.sleep(min(60.0, max(0.0, due - rt.now())))
            if rt.now() < due:
                continue
            try:
                if await rt.poller.send_recaps():
                    rt.deliverer.wake()
            except MonitorError as exc:
                log.warning("recap.failed", error=str(exc))


async def check_state(rt: Runtime) -> None:
    """Make sure the state is still the one opened; say so loudly when it was not.

    A state file deleted or replaced under the daemon is written back from the copy
    still open (nothing lost). When its data is gone, the next cycle is a baseline that
    reports what stands now (ads rejected, reviews pending), never a silent one.
    """
    loss = await rt.store.verify()
    if loss is None:
        return
    log.error(
        "store.state_lost",
        reason=loss.reason,
        restored=loss.restored,
        kept_as=str(loss.kept_as) if loss.kept_as else None,
    )
    if not loss.restored:
        rt.poller.report_next_baselines()
    now = rt.now()
    detail: dict[str, object] = {"state": str(rt.config.monitor.state), "reason": loss.reason}
    detail["restored"] = loss.restored
    if loss.kept_as is not None:
        detail["kept_as"] = str(loss.kept_as)
    await rt.poller.reports.emit(
        [
            ops_event(
                OpsChange.STATE_LOST,
                subject="state",
                at=now,
                occurrence=str(int(now)),
                detail=detail,
            )
        ]
    )
    rt.deliverer.wake()


async def _prune(rt: Runtime, *, now: float) -> None:
    """Drop history past the retention (events with deliveries still pending are kept)."""
    try:
        pruned = await rt.store.prune_events(before=now - rt.config.monitor.retention_s)
    except Exception:
        log.exception("store.prune_failed")
        return
    if pruned:
        log.info("store.pruned", events=pruned)


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("daemon.signal", signal=signal.Signals(signum).name)
            stop.set()
            return
