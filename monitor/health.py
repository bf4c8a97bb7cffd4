"""Liveness, readiness and metrics over HTTP: an optional listener for supervisors and Prometheus.

``/healthz`` answers whether polling is keeping up (a supervisor restarts on 503),
``/readyz`` whether the daemon has started doing its job, ``/metrics`` the Prometheus text.
:class:`Health` holds the state both verdicts are derived from; it reads only its injected
clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog

from monitor.errors import ListenError
from monitor.redact import DEFAULT, Redactor

if TYPE_CHECKING:
    from aiohttp import web

    from monitor.metrics import Metrics

# aiohttp and prometheus_client are imported where the listener starts, not here: config
# parsing uses parse_listen, and `pinmon status` should not pay ~0.2 s for a server.

#: /healthz fails once the last successful cycle is this many intervals old: one late or
#: failed cycle is routine (a 429 storm, a slow page), three in a row is not.
STALE_AFTER_INTERVALS: Final = 3

log = structlog.get_logger("monitor.health")

#: Refreshes gauges before a /metrics render (see :func:`serve_health`).
OnScrape = Callable[[], Awaitable[None]]

# A scrape must answer within Prometheus' default 10 s timeout, store busy or not.
_SCRAPE_REFRESH_TIMEOUT_S: Final = 5.0

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9464


@dataclass(frozen=True, slots=True)
class Verdict:
    """One endpoint's answer: ``ok`` maps to 200, else 503; ``body`` is the JSON."""

    ok: bool
    body: dict[str, Any]


class Health:
    """What the daemon has done so far, and the verdicts /healthz and /readyz derive from it.

    Args:
        interval_s: The configured poll interval.
        now: A monotonic clock: ages must not jump when the wall clock is set.
        redactor: Scrubs the last error before /healthz shows it.
    """

    def __init__(
        self,
        *,
        interval_s: float,
        now: Callable[[], float] = time.monotonic,
        redactor: Redactor = DEFAULT,
    ) -> None:
        self.interval_s = interval_s
        self._redactor = redactor
        self._now = now
        self.started_at = now()
        self.store_open = False
        self.cycles = 0
        self.last_success_at: float | None = None
        self.last_error: str | None = None

    def store_opened(self) -> None:
        """The state store is open: the daemon can do its work."""
        self.store_open = True

    def store_closed(self) -> None:
        """The store was closed (shutting down): no longer ready."""
        self.store_open = False

    def cycle_finished(self, *, ok: bool, error: str | None = None) -> None:
        """A poll cycle ended; ``ok`` when every account in it succeeded."""
        self.cycles += 1
        if ok:
            self.last_success_at = self._now()
            self.last_error = None
        else:
            self.last_error = error or "some accounts failed"

    def liveness(self) -> Verdict:
        """Failing once no cycle has succeeded for :data:`STALE_AFTER_INTERVALS` intervals."""
        now = self._now()
        limit_s = STALE_AFTER_INTERVALS * self.interval_s
        age_s = None if self.last_success_at is None else now - self.last_success_at
        if age_s is not None:
            ok = age_s < limit_s
            reason = (
                f"last successful cycle {age_s:.0f}s ago"
                if ok
                else f"no successful cycle for {age_s:.0f}s (limit {limit_s:.0f}s)"
            )
        else:
            up_s = now - self.started_at
            ok = up_s < limit_s
            reason = (
                f"starting: no successful cycle yet ({up_s:.0f}s since start)"
                if ok
                else f"no successful cycle since start {up_s:.0f}s ago (limit {limit_s:.0f}s)"
            )
        return Verdict(
            ok,
            {
                "status": "ok" if ok else "failing",
                "reason": reason,
                "last_success_age_s": None if age_s is None else round(age_s, 3),
                "interval_s": self.interval_s,
                "last_error": None
                if self.last_error is None
                else self._redactor.redact(self.last_error),
            },
        )

    def readiness(self) -> Verdict:
        """Ready once the store is open and a first cycle has completed, however it went."""
        if not self.store_open:
            reason = "state store not open" if self.cycles == 0 else "shutting down"
            ok = False
        elif self.cycles == 0:
            reason, ok = "first cycle not completed yet", False
        else:
            reason, ok = f"{self.cycles} cycles completed", True
        return Verdict(ok, {"status": "ready" if ok else "not_ready", "reason": reason})


def parse_listen(value: object) -> tuple[str, int]:
    """``"127.0.0.1:9464"``, ``"[::1]:9464"`` or ``":9464"`` (loopback) → ``(host, port)``.

    Raises:
        ValueError: Not ``HOST:PORT``, or the port is outside 0..65535.
    """
    if not isinstance(value, str):
        raise ValueError('expected "HOST:PORT", e.g. "127.0.0.1:9464"')
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f'{value!r} is not "HOST:PORT", e.g. "127.0.0.1:9464"')
    host = host.removeprefix("[").removesuffix("]") or DEFAULT_HOST
    return host, int(port_text)


def bind_reason(exc: OSError) -> str:
    """Why a bind failed, in the system's words ("Address already in use").

    asyncio re-raises the error with its own long message that repeats the address;
    the errno says the same thing in a few words.
    """
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror}"
    if exc.errno:
        return os.strerror(exc.errno)
    return exc.strerror or type(exc).__name__


@dataclass(frozen=True, slots=True)
class HealthServer:
    """The running listener: where it is bound (``port`` is the real one when 0 was asked)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, for tests and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _json(verdict: Verdict) -> web.Response:
    from aiohttp import web

    return web.Response(
        status=200 if verdict.ok else 503,
        text=json.dumps(verdict.body),
        content_type="application/json",
        # A cached "ok" would hide a daemon that stopped polling.
        headers={"Cache-Control": "no-store"},
    )


def build_app(
    health: Health, metrics: Metrics, *, on_scrape: OnScrape | None = None
) -> web.Application:
    """The aiohttp application serving /healthz, /readyz and /metrics (see serve_health)."""
    from aiohttp import web

    from monitor.metrics import CONTENT_TYPE

    async def healthz(_: web.Request) -> web.Response:
        return _json(health.liveness())

    async def readyz(_: web.Request) -> web.Response:
        return _json(health.readiness())

    async def metrics_text(_: web.Request) -> web.Response:
        if on_scrape is not None:
            try:
                with anyio.fail_after(_SCRAPE_REFRESH_TIMEOUT_S):
                    await on_scrape()
            except Exception as exc:  # stale gauges beat a failed scrape
                log.warning("health.scrape_refresh_failed", error=str(exc) or type(exc).__name__)
        response = web.Response(body=metrics.render())
        # Set whole: aiohttp's content_type argument would drop the version parameter.
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
    return app


@asynccontextmanager
async def serve_health(
    health: Health,
    metrics: Metrics,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_scrape: OnScrape | None = None,
    mount: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[HealthServer]:
    """Serve the health endpoints on ``host:port`` until the block exits.

    Args:
        health: The state the verdicts come from.
        metrics: What /metrics renders.
        host: Loopback by default: the metrics name targets and accounts, so exposing
            them wider is an explicit choice.
        port: 0 binds a free port (see :attr:`HealthServer.port`).
        on_scrape: Awaited before each /metrics render, to refresh gauges that are read
            from the store (the outbox) at scrape time rather than on a timer.
        mount: Adds more routes to the application before it starts (the web board).

    Raises:
        ListenError: The address cannot be bound (in use, not local, no permission).
    """
    from aiohttp import web

    app = build_app(health, metrics, on_scrape=on_scrape)
    if mount is not None:
        mount(app)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(host, port, bind_reason(exc)) from exc
        bound = runner.addresses[0]
        yield HealthServer(host, int(bound[1]))
    finally:
        await runner.cleanup()
