"""The daemon: wires config to client, store and notifiers; owns the poll clock, signals and shutdown."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import anyio
import structlog

from monitor import __version__
from monitor.config import Config
from monitor.delivery import Deliverer, DrainReport
from monitor.logs import register_secret, register_url_secrets
from monitor.notify import Notifier
from monitor.pinterest import PinterestClient, RetryPolicy, StaticToken
from monitor.poll import CycleReport, Poller
from monitor.schedule import next_cycle_start
from monitor.store import StateStore
from monitor.store.sqlite import open_store

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


def register_config_secrets(config: Config) -> None:
    """Teach the log redactor every secret the config holds, before anything can log it."""
    p = config.pinterest
    for secret in (p.access_token, p.client_secret, p.refresh_token):
        if secret is not None:
            register_secret(secret.reveal())
    for route in config.routes:
        for url in route.apprise:
            register_url_secrets(url.reveal())


def build_notifiers(config: Config) -> tuple[dict[str, Notifier], dict[str, list[Notifier]]]:
    """One notifier per target URL, shared by the routes that name it."""
    from monitor.notify.apprise import AppriseNotifier

    by_key: dict[str, Notifier] = {}
    by_route: dict[str, list[Notifier]] = {}
    for route in config.routes:
        targets: list[Notifier] = []
        for url in route.apprise:
            notifier: Notifier = AppriseNotifier(
                url.reveal(), timeout_s=config.monitor.send_timeout_s
            )
            notifier = by_key.setdefault(notifier.key, notifier)
            targets.append(notifier)
        by_route[route.name] = targets
    return by_key, by_route


def make_client(config: Config, session: aiohttp.ClientSession) -> PinterestClient:
    """The Pinterest client the config describes."""
    p = config.pinterest
    if p.access_token is None:
        # OAuth refresh without a starting access token arrives with the token-source work.
        from monitor.errors import ConfigError

        raise ConfigError([f"{config.path}: pinterest.access_token: required"])
    return PinterestClient(
        session,
        base_url=p.base_url,
        tokens=StaticToken(p.access_token.reveal()),
        page_size=p.page_size,
        retry=RetryPolicy(attempts=p.retries, total_timeout_s=p.timeout_s),
    )


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    now: Callable[[], float] = time.time,
    on_result: Callable[..., None] | None = None,
) -> AsyncIterator[Runtime]:
    """Open the store, the HTTP session and the notifiers; close them all on exit."""
    register_config_secrets(config)
    store = await open_store(config.monitor.state)
    try:
        async with aiohttp.ClientSession(
            headers={"User-Agent": f"pinmon/{__version__}"}, raise_for_status=False
        ) as session:
            notifiers, by_route = build_notifiers(config)
            poller = Poller(
                config,
                client=make_client(config, session),
                store=store,
                notifiers=by_route,
                now=now,
            )
            deliverer = Deliverer(
                store,
                notifiers,
                send_timeout_s=config.monitor.send_timeout_s,
                account_names=poller.account_names,
                now=now,
                on_result=on_result,
            )
            yield Runtime(config, store, poller, deliverer, notifiers)
    finally:
        await store.close()


async def run_once(config: Config, **kw: object) -> int:
    """One full cycle, then deliver what it produced (and anything due); returns an exit code."""
    async with open_runtime(config, **kw) as rt:  # type: ignore[arg-type]
        report = await rt.poller.run_cycle()
        drained = await rt.deliverer.drain()
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
    **kw: object,
) -> int:
    """Poll every interval until SIGTERM/SIGINT (or ``stop``), then shut down gracefully.

    Polling stops at once; deliveries already under way get ``shutdown_grace`` to finish.
    Whatever is left stays in the outbox for the next start.
    """
    stop = stop or anyio.Event()
    mon = config.monitor

    async def default_sleep_until(deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - monotonic()))

    wait = sleep_until or default_sleep_until
    async with open_runtime(config, **kw) as rt:  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            if handle_signals:
                tg.start_soon(_watch_signals, stop)
            delivery_scope = anyio.CancelScope()
            delivered = anyio.Event()

            async def deliver() -> None:
                with delivery_scope:
                    await rt.deliverer.run()
                delivered.set()

            tg.start_soon(deliver)
            poll_scope = anyio.CancelScope()

            async def poll() -> None:
                with poll_scope:
                    started = monotonic()
                    while True:
                        report = await rt.poller.run_cycle()
                        if report.events:
                            rt.deliverer.wake()
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
            await stop.wait()
            log.info("daemon.stopping", grace_s=mon.shutdown_grace_s)
            poll_scope.cancel()
            # Let in-flight sends finish (and what is due go out), within the grace period;
            # whatever is left stays in the outbox for the next start.
            rt.deliverer.stop()
            with anyio.move_on_after(mon.shutdown_grace_s):
                await delivered.wait()
            delivery_scope.cancel()
            tg.cancel_scope.cancel()
    log.info("daemon.stopped")
    return EXIT_OK


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("daemon.signal", signal=signal.Signals(signum).name)
            stop.set()
            return
