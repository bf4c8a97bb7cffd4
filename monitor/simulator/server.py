"""The :class:`Simulator`: a Pinterest v5 look-alike on 127.0.0.1, driven from Python or HTTP.

Example::

    clock = ManualClock()
    async with Simulator(scenario=builtin_scenario("demo"), now=clock) as sim:
        sim.base_url                      # "http://127.0.0.1:PORT/v5"
        sim.world.reject_ad("687195134316", reasons=["LANDING_PAGE_BROKEN"])
        sim.add_fault(path="/v5/ad_accounts/*/ads", kind="status_500", times=2)
        clock.advance(3600)               # tokens expire, after_s steps fire
        sim.requests                      # what the client asked, and what it got
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
from aiohttp import web

from monitor.errors import ConfigError
from monitor.simulator import admin, app
from monitor.simulator.actions import Access, StepError, apply_step
from monitor.simulator.analytics import AnalyticsFigures
from monitor.simulator.app import RequestRecord
from monitor.simulator.auth import Tokens
from monitor.simulator.cycles import Cycles
from monitor.simulator.faults import Fault, FaultKind, Faults
from monitor.simulator.ratelimit import RateLimiter
from monitor.simulator.render import Pages
from monitor.simulator.reviewer import Review, Reviewer
from monitor.simulator.reviews import ReviewStory, parse_review
from monitor.simulator.scenario import AuthSpec, Scenario, builtin_scenario, load_scenario
from monitor.simulator.steps import Step, Timeline, parse_step
from monitor.simulator.tables import Problems
from monitor.simulator.world import World

log = structlog.get_logger("monitor.simulator")


class Simulator:
    """A simulated Pinterest API v5 served over loopback HTTP.

    Args:
        world: The entities to serve; its timeline, faults, auth and rate limit come
            from ``world.scenario``. Its clock is set to ``now``.
        scenario: Instead of ``world``: a scenario (or path, or mapping) to build one
            from. The built-in demo scenario when neither is given.
        now: The Unix-seconds clock for token expiry, rate-limit windows, ``after_s``
            steps, review moments and ``updated_time`` bumps (inject one: tests never
            sleep).
        host: Interface to bind (loopback only by default).
        port: Port to bind; 0 picks a free one.
        rate_limit: Requests per window per user (the scenario's, or 1000).
        rate_per_second: Requests per second per user, beyond which answers are 429
            whatever the window says (Pinterest's overall ceiling is 100).
        rate_window_s: Window length (the scenario's, or 60 s).
        token_lifetime_s: Access-token lifetime (the scenario's, or 30 days).
        refresh_token_lifetime_s: Refresh-token lifetime (the scenario's, or 60 days).
        auth: Initial tokens and client credentials, replacing the scenario's ``[auth]``.
        analytics_rate_limit: Ads analytics requests per window per user: a quota of
            their own (category ``ads_analytics``), over the same window (the
            scenario's ``[rate_limit] analytics``, or 300).
    """

    def __init__(
        self,
        *,
        world: World | None = None,
        scenario: Scenario | Path | str | Mapping[str, Any] | None = None,
        now: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        rate_window_s: float | None = None,
        rate_per_second: int | None = None,
        token_lifetime_s: float | None = None,
        refresh_token_lifetime_s: float | None = None,
        auth: AuthSpec | None = None,
        analytics_rate_limit: int | None = None,
    ) -> None:
        if world is None:
            world = World.from_scenario(scenario or builtin_scenario("demo"), clock=now)
        world.clock = now
        self.world = world
        self.now = now
        self.host = host
        self.port = port
        spec = world.scenario or load_scenario({"accounts": []}, name="<empty>")
        self.scenario = spec
        self.tokens = Tokens(
            auth or spec.auth,
            now=now,
            access_token_lifetime_s=token_lifetime_s,
            refresh_token_lifetime_s=refresh_token_lifetime_s,
        )
        self.limiter = RateLimiter(
            limit=rate_limit if rate_limit is not None else spec.rate_limit.limit,
            window_s=rate_window_s if rate_window_s is not None else spec.rate_limit.window_s,
            per_second=rate_per_second
            if rate_per_second is not None
            else spec.rate_limit.per_second,
            now=now,
        )
        self.analytics_limiter = RateLimiter(
            limit=analytics_rate_limit
            if analytics_rate_limit is not None
            else spec.rate_limit.analytics,
            window_s=self.limiter.window_s,
            now=now,
        )
        #: The figures the analytics endpoint reports (set ``daily`` to choose them).
        self.analytics = AnalyticsFigures()
        self.pages = Pages(world)
        self.faults = Faults()
        self.cycles = Cycles()
        self.access = Access()
        self.timeline = Timeline()
        self.reviewer = Reviewer()
        self.requests: list[RequestRecord] = []
        self.started_at = now()
        self._runner: web.AppRunner | None = None
        self.app = self._application()
        self._arm()

    # -- lifecycle --------------------------------------------------------------------

    def _application(self) -> web.Application:
        application = web.Application(middlewares=[app.api_middleware])
        application[app.SIM] = self
        app.add_api_routes(application)
        admin.add_admin_routes(application)
        return application

    def _arm(self) -> None:
        for fault in self.scenario.faults:
            self.faults.add(fault)
        self.timeline = Timeline(self.scenario.timeline)
        for n, story in enumerate(self.scenario.reviews):
            try:
                self.reviewer.stage(story, self.world, origin=self.started_at, from_scenario=True)
            except StepError as exc:
                raise ConfigError([f"{self.scenario.source}: reviews[{n}]: {exc}"]) from None

    async def start(self) -> None:
        """Bind and serve (idempotent)."""
        if self._runner is not None:
            return
        # A short shutdown grace: a request held by a ``slow`` fault must not keep a
        # test (or Ctrl-C) waiting for its full delay.
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.started_at = self.now()
        self.reviewer.rebase(self.started_at)

    async def stop(self) -> None:
        """Stop serving and close open connections (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: where the admin endpoints (``/_sim/...``) live."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v5``: the API base URL to point a client at."""
        return self.origin + app.API_PREFIX

    # -- driving it -------------------------------------------------------------------

    @property
    def cycle(self) -> int:
        """The current poll cycle (see :mod:`monitor.simulator.cycles`)."""
        return self.cycles.cycle

    def add_fault(
        self,
        *,
        kind: FaultKind | str,
        path: str = "/v5/*",
        method: str | None = None,
        times: int | None = None,
        delay_s: float = 5.0,
        status: int = 502,
        ads: list[str] | tuple[str, ...] | None = None,
        skip: int = 0,
        fields: list[str] | tuple[str, ...] | None = None,
        size: int = 1_000_000,
    ) -> Fault:
        """Arm a fault (see :class:`~monitor.simulator.faults.Fault`); returns it, live."""
        fault = Fault(
            kind=FaultKind(kind),
            path=path,
            method=method.upper() if method else None,
            times=times,
            delay_s=delay_s,
            status=status,
            ads=tuple(ads) if ads is not None else None,
            skip=skip,
            size=size,
        )
        if fields is not None:
            fault.fields = tuple(fields)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.faults.clear()

    def apply(self, step: Step | Mapping[str, Any]) -> list[str]:
        """Apply a step now, or schedule it if it has ``at_cycle`` / ``after_s``.

        Args:
            step: A :class:`Step` or a mapping shaped like a ``[[timeline]]`` table.

        Returns:
            The ids changed or created (empty when scheduled).

        Raises:
            ConfigError: If the mapping is not a valid step.
            StepError: If it cannot apply to the world as it is.
        """
        if not isinstance(step, Step):
            p = Problems("step")
            parsed = parse_step(step, "", p)
            p.raise_if_any()
            assert parsed is not None
            step = parsed
        if not step.immediate:
            self.timeline.schedule(step)
            self.tick()
            return []
        return self._apply(step)

    def _apply(self, step: Step) -> list[str]:
        ids = apply_step(
            step, world=self.world, faults=self.faults, tokens=self.tokens, access=self.access
        )
        log.info("simulator.step_applied", step=step.describe(), changed=len(ids), cycle=self.cycle)
        return ids

    def tick(self) -> None:
        """Apply the timeline steps whose time or cycle has come, and review moments."""
        now = self.now()
        for step in self.timeline.due(self.cycle, now - self.started_at):
            try:
                self._apply(replace(step, at_cycle=None, after_s=None))
            except StepError as exc:
                log.warning("simulator.step_failed", step=step.describe(), error=str(exc))
        self.reviewer.run(self.world, now)

    def stage_reviews(self, story: ReviewStory | Mapping[str, Any]) -> list[Review]:
        """Stage a review story, its offsets counted from now on the simulator's clock.

        Args:
            story: A :class:`ReviewStory` or a mapping shaped like a ``[[reviews]]`` table.

        Returns:
            Its reviews: each ad, its moments and its verdict (live: ``state`` moves).

        Raises:
            ConfigError: If the mapping is not a valid story.
            StepError: If it cannot apply to the world as it is (nothing is staged then).
        """
        if not isinstance(story, ReviewStory):
            p = Problems("review")
            parsed = parse_review(story, "", p)
            p.raise_if_any()
            assert parsed is not None
            story = parsed
        reviews = self.reviewer.stage(story, self.world, origin=self.now())
        log.info("simulator.reviews_staged", story=story.describe(), ads=len(reviews))
        self.tick()
        return reviews

    @property
    def reviews(self) -> list[Review]:
        """Every staged review, in staging order (see :class:`Review`)."""
        return self.reviewer.reviews

    def advance_cycle(self) -> int:
        """Start the next cycle by hand (and fire its steps); returns its number."""
        self.cycles.advance()
        self.tick()
        return self.cycle

    def first_page(self, listing: str) -> None:
        """Called by listing handlers on a first-page request (see ``cycles``)."""
        if self.cycles.first_page(listing):
            log.debug("simulator.cycle_started", cycle=self.cycle)
            self.tick()

    def record(self, request: web.Request, status: int, fault: Fault | None) -> None:
        """Append a request to :attr:`requests`."""
        self.requests.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                query=tuple(request.query.items()),
                status=status,
                fault=fault.kind.value if fault is not None else None,
                cycle=self.cycle,
                at=self.now(),
            )
        )

    def reset(self) -> None:
        """Back to the scenario's start: world, tokens, faults, timeline, reviews, cycle, log."""
        self.world.reset()
        self.pages.clear()
        self.tokens.reset()
        self.limiter.reset()
        self.analytics_limiter.reset()
        self.faults.clear()
        self.cycles.reset()
        self.access.revoked.clear()
        self.requests.clear()
        self.reviewer.clear()
        self.started_at = self.now()
        self._arm()

    def state(self) -> dict[str, Any]:
        """A JSON-able summary: cycle, counts per account, faults and pending steps."""
        self.tick()
        accounts = {
            a: {kind: len(self.world.ids_of(a, kind)) for kind in ("campaigns", "ad_groups", "ads")}
            for a in sorted(self.world.accounts, key=int)
        }
        return {
            "scenario": self.scenario.name,
            "cycle": self.cycle,
            "elapsed_s": self.now() - self.started_at,
            "version": self.world.version,
            "accounts": accounts,
            "revoked_accounts": sorted(self.access.revoked),
            "faults": [f.to_json() for f in self.faults.armed],
            "pending_steps": [s.describe() for s in self.timeline.pending],
            "reviews": self.reviewer.counts(),
            "requests": len(self.requests),
            "token_refreshes": self.tokens.refreshes,
        }
