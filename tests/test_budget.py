"""The per-token request budget: throttle before Pinterest's limit, pause on its 429s."""

from __future__ import annotations

import aiohttp
import pytest

from monitor.models import DEFAULT_WATCHED, Kind, row_type
from monitor.pinterest import PinterestClient, StaticToken
from monitor.pinterest.budget import RateBudget
from monitor.pinterest.retry import RateLimit
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


async def sent(budget: RateBudget, n: int, *, told: RateLimit | None = None) -> None:
    """``n`` requests through the budget, each answered (with ``told``) before the next."""
    for _ in range(n):
        await budget.acquire()
        budget.release(told)


async def test_a_fresh_window_goes_out_at_once() -> None:
    """No burst rule holds back a fresh window: the whole limit goes at once (here under
    the per-second ceiling), and the next request waits for the first to leave it."""
    t = FakeTime()
    budget = RateBudget(100, 60.0, per_second=1000, now=t.now, sleep=t.sleep)
    await sent(budget, 100)
    assert t.slept == []
    await sent(budget, 1)
    assert sum(t.slept) == pytest.approx(60.0)


async def test_the_per_second_ceiling_holds() -> None:
    """However big the window, no second sees more than ``per_second`` requests."""
    t = FakeTime()
    budget = RateBudget(1000, 60.0, per_second=100, now=t.now, sleep=t.sleep)
    times = []
    for _ in range(350):
        await budget.acquire()
        times.append(t.now())
        budget.release(None)
    assert max(sum(1 for x in times if s <= x < s + 1.0) for s in times) == 100
    # Kept over a second and a little (arrivals jitter): 3 x 1.1 s for 350.
    assert times[-1] - times[0] == pytest.approx(3.3)


@pytest.mark.parametrize("limit", [1, 10, 100, 1000])
async def test_never_more_than_the_limit_in_any_window(limit: int) -> None:
    """However requests arrive, no window of the budget's length sees more than `limit`."""
    t = FakeTime()
    budget = RateBudget(limit, 60.0, now=t.now, sleep=t.sleep)
    sent_at: list[float] = []
    for i in range(3 * limit + 5):
        if i % 7 == 0:
            await t.sleep(13.0)
        await budget.acquire()
        sent_at.append(t.now())
        budget.release(None)
    worst = max(sum(1 for s in sent_at if start <= s < start + 60.0) for start in sent_at)
    assert worst <= limit


async def test_server_remaining_corrects_the_bucket() -> None:
    """When the server says nothing remains, the budget waits for its window to reset."""
    t = FakeTime()
    budget = RateBudget(100, 60.0, now=t.now, sleep=t.sleep)
    await sent(budget, 1, told=RateLimit(limit=100, remaining=0, reset_s=30.0))
    await budget.acquire()
    assert sum(t.slept) == pytest.approx(30.0)


async def test_never_more_in_flight_than_remain() -> None:
    """Told 3 remain, 3 requests may be in flight at once and a 4th waits for the reset."""
    t = FakeTime()
    budget = RateBudget(1000, 60.0, now=t.now, sleep=t.sleep)
    await sent(budget, 1, told=RateLimit(limit=1000, remaining=3, reset_s=20.0))
    for _ in range(3):
        await budget.acquire()
    assert (budget.in_flight, t.slept) == (3, [])
    await budget.acquire()
    assert sum(t.slept) == pytest.approx(20.0)


async def test_before_the_first_answer_one_request_goes_alone() -> None:
    """A restart may land in a spent window: until an answer tells, one request at a time."""
    import anyio

    t = FakeTime()
    budget = RateBudget(1000, 60.0, now=t.now, sleep=t.sleep)
    await budget.acquire()
    second = anyio.Event()

    async def another() -> None:
        await budget.acquire()
        second.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(another)
        await anyio.sleep(0.05)
        assert not second.is_set()  # waiting for the first answer, not for time
        budget.release(RateLimit(limit=1000, remaining=500, reset_s=40.0))
        with anyio.fail_after(5):
            await second.wait()
    assert t.slept == []


async def test_the_servers_limit_replaces_the_configured_one() -> None:
    """A config that says 5,000 a minute does not outrun a server that allows 1,000."""
    t = FakeTime()
    budget = RateBudget(5000, 60.0, per_second=10_000, now=t.now, sleep=t.sleep)
    await sent(budget, 1, told=RateLimit(limit=1000, remaining=999, reset_s=60.0))
    assert budget.limit == 1000


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


@pytest.mark.parametrize("configured", [500, 1000, 4000])
async def test_five_minutes_use_the_whole_quota_without_a_429(configured: int) -> None:
    """Against a server with 1,000 a minute and 100 a second, five minutes of polling use
    at least 97% of its quota with no 429 — whether the config says less, the same or more."""
    clock = ManualClock()
    t = FakeTime(clock)
    sim = Simulator(
        scenario=small_scenario(),
        now=clock,
        rate_limit=1000,
        rate_window_s=60.0,
        rate_per_second=100,
    )
    async with sim, aiohttp.ClientSession() as session:
        client = PinterestClient(
            session,
            base_url=sim.base_url,
            tokens=StaticToken(TOKEN),
            page_size=250,
            budget=RateBudget(configured, 60.0, now=t.now, sleep=t.sleep),
            sleep=t.sleep,
        )
        row = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])
        start = clock()
        while clock() - start < 300.0:
            [p async for p in client.list_entities(Kind.AD, ACCOUNT, row=row)]
    statuses = [r.status for r in sim.requests if r.at - start < 300.0]
    assert 429 not in statuses
    assert sim.limiter.ceiling_refusals == 0
    assert len(statuses) >= 0.97 * 5 * 1000


async def test_a_fresh_window_goes_at_the_per_second_ceiling() -> None:
    """800 requests in a fresh window take the time the 100-a-second ceiling sets, not
    more (requests themselves take no time here: this is the limiter's share)."""
    t = FakeTime()
    budget = RateBudget(1000, 60.0, per_second=100, now=t.now, sleep=t.sleep)
    await sent(budget, 800, told=None)
    assert sum(t.slept) <= 1.3 * 800 / 100
