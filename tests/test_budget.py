"""The per-token request budget: throttle before Pinterest's limit, pause on its 429s."""

from __future__ import annotations

import aiohttp
import pytest

from monitor.models import DEFAULT_WATCHED, Kind, row_type
from monitor.pinterest import PinterestClient, StaticToken
from monitor.pinterest.budget import RateBudget
from monitor.simulator import ManualClock, Simulator
from tests.harness import ACCOUNT, TOKEN, small_scenario

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


class FakeTime:
    """A clock whose sleep advances it: time passes only when something waits."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.slept: list[float] = []

    def now(self) -> float:
        return self.clock()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


async def test_burst_of_a_tenth_does_not_wait() -> None:
    """A full bucket lets a tenth of the limit through at once, then paces the rest."""
    t = FakeTime()
    budget = RateBudget(100, 60.0, now=t.now, sleep=t.sleep)
    for _ in range(10):
        await budget.acquire()
    assert t.slept == []
    await budget.acquire()
    assert sum(t.slept) == pytest.approx(60.0 / 90)


@pytest.mark.parametrize("limit", [1, 10, 100, 1000])
async def test_never_more_than_the_limit_in_any_window(limit: int) -> None:
    """However requests arrive, no window of the budget's length sees more than `limit`."""
    t = FakeTime()
    budget = RateBudget(limit, 60.0, now=t.now, sleep=t.sleep)
    sent: list[float] = []
    for i in range(3 * limit + 5):
        if i % 7 == 0:
            await t.sleep(13.0)  # idle gaps let the bucket refill to its burst
        await budget.acquire()
        sent.append(t.now())
    worst = max(sum(1 for s in sent if start <= s < start + 60.0) for start in sent)
    assert worst <= max(limit, 2)


async def test_server_remaining_corrects_the_bucket() -> None:
    """When the server says fewer remain, the budget believes the server."""
    t = FakeTime()
    budget = RateBudget(100, 60.0, now=t.now, sleep=t.sleep)
    budget.observe(remaining=0, reset_s=30.0)
    await budget.acquire()
    assert sum(t.slept) == pytest.approx(30.0)


async def test_pause_is_capped() -> None:
    """A daily window's huge reset does not stall the daemon for a day."""
    t = FakeTime()
    budget = RateBudget(100, 60.0, max_pause_s=120.0, now=t.now, sleep=t.sleep)
    budget.pause(67_000.0)
    await budget.acquire()
    assert sum(t.slept) == pytest.approx(120.0)


async def test_client_never_exceeds_the_simulators_limit() -> None:
    """Polling far more than the quota through the budget never draws a 429."""
    clock = ManualClock()
    t = FakeTime(clock)
    scenario = small_scenario()
    sim = Simulator(scenario=scenario, now=clock, rate_limit=10, rate_window_s=60.0)
    async with sim, aiohttp.ClientSession() as session:
        client = PinterestClient(
            session,
            base_url=sim.base_url,
            tokens=StaticToken(TOKEN),
            page_size=2,
            budget=RateBudget(10, 60.0, now=t.now, sleep=t.sleep),
            sleep=t.sleep,
        )
        row = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])
        for _ in range(8):  # 8 listings x 3 pages = 24 requests against 10 a minute
            pages = [p async for p in client.list_entities(Kind.AD, ACCOUNT, row=row)]
            assert sum(len(p) for p in pages) == 5
    statuses = [r.status for r in sim.requests]
    assert len(statuses) == 24
    assert 429 not in statuses
    assert sum(t.slept) >= 60.0  # it had to wait for the window, as the quota demands


class VirtualTime:
    """Discrete-event time for several tasks: it advances only when every task sleeps.

    While any task is working (a request in flight) time stands still, as it nearly does
    for real; a shared clock that jumped whenever one task slept would move requests of
    the others into another rate-limit window mid-flight.
    """

    def __init__(self, clock: ManualClock, tasks: int) -> None:
        import anyio

        self.clock = clock
        self.awake = tasks
        self.sleepers: list[tuple[float, int, anyio.Event]] = []
        self.slept = 0.0
        self._n = 0

    def now(self) -> float:
        return self.clock()

    def done(self) -> None:
        self.awake -= 1
        self._advance()

    def _advance(self) -> None:
        if self.awake == 0 and self.sleepers:
            self.sleepers.sort()
            wake_at, _, event = self.sleepers.pop(0)
            if wake_at > self.clock():
                self.slept += wake_at - self.clock()
                self.clock.advance(wake_at - self.clock())
            self.awake += 1
            event.set()

    async def sleep(self, seconds: float) -> None:
        import anyio

        event = anyio.Event()
        self._n += 1
        self.sleepers.append((self.clock() + seconds, self._n, event))
        self.awake -= 1
        self._advance()
        await event.wait()


async def test_replicas_sharing_a_token_stay_under_the_limit_together(tmp_path: object) -> None:
    """Three replicas' clients, one PostgreSQL budget: together they never draw a 429."""
    import os

    if not os.environ.get("PINMON_TEST_POSTGRES"):
        pytest.skip("PINMON_TEST_POSTGRES not set: PostgreSQL tests skipped")
    import secrets as _secrets

    import anyio

    from monitor.replicas import SharedBudget
    from monitor.store.postgres import open_postgres
    from tests.test_store import pg_schema

    clock = ManualClock()
    t = VirtualTime(clock, tasks=3)
    with pg_schema(f"t_{_secrets.token_hex(6)}") as url:
        stores = [await open_postgres(url) for _ in range(3)]
        sim = Simulator(scenario=small_scenario(), now=clock, rate_limit=10, rate_window_s=60.0)
        try:
            async with sim, aiohttp.ClientSession() as session:
                row = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])

                async def replica(store: object) -> None:
                    budget = SharedBudget(store, "budget:token", limit=10, now=t.now,  # type: ignore[arg-type]
                                          sleep=t.sleep)
                    client = PinterestClient(session, base_url=sim.base_url,
                                             tokens=StaticToken(TOKEN), page_size=2,
                                             budget=budget, sleep=t.sleep)
                    for _ in range(3):  # 3 replicas x 3 listings x 3 pages = 27 requests
                        pages = [p async for p in client.list_entities(Kind.AD, ACCOUNT, row=row)]
                        assert sum(len(p) for p in pages) == 5
                    t.done()

                async with anyio.create_task_group() as tg:
                    for store in stores:
                        tg.start_soon(replica, store)
        finally:
            for store in stores:
                await store.close()
    statuses = [r.status for r in sim.requests]
    assert len(statuses) == 27
    assert 429 not in statuses
    assert t.slept >= 120.0  # 27 requests at 10 a minute: the budget made them wait
