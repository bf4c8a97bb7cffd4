"""The review fast lane: ads under review looked up by id between full cycles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from monitor.daemon import run_forever
from monitor.events import Event
from monitor.lane import ReviewLane
from monitor.poll import CycleReport
from monitor.store.sqlite import open_store
from tests.harness import ACCOUNT, ADS, TOKEN, Rig, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def write_config(r: Rig) -> None:
    r.path.write_text(
        f"""
[pinterest]
base_url = "{r.sim.base_url}"
access_token = "{TOKEN}"
ad_accounts = ["{ACCOUNT}"]
retries = 2

[monitor]
interval = "1h"
fast_interval = "30s"
state = "state.db"
shutdown_grace = "5s"

[[routes]]
name = "everything"
events = ["ad.*"]
group_wait = "0s"
apprise = ["{r.sink.url("/alerts", scheme="json")}"]
"""
    )


class Clocks:
    """Both of the daemon's waits, each released by the test: cycles and fast passes."""

    def __init__(self) -> None:
        self._cycle_go_send, self._cycle_go = anyio.create_memory_object_stream[None](10)
        self._cycle_done_send, self._cycle_done = anyio.create_memory_object_stream[None](10)
        self._pass_go_send, self._pass_go = anyio.create_memory_object_stream[None](10)
        self._pass_idle_send, self._pass_idle = anyio.create_memory_object_stream[None](10)

    async def sleep_until(self, _deadline: float) -> None:
        await self._cycle_go.receive()

    def on_cycle(self, _report: CycleReport) -> None:
        self._cycle_done_send.send_nowait(None)

    async def fast_wait(self, _deadline: float) -> None:
        self._pass_idle_send.send_nowait(None)  # the previous pass (if any) is over
        await self._pass_go.receive()

    async def cycle(self) -> None:
        await self._cycle_go_send.send(None)
        await self._cycle_done.receive()

    async def fast_pass(self) -> None:
        """Let one fast pass run, and wait until it has ended."""
        await self._pass_go_send.send(None)
        await self._pass_idle.receive()


@asynccontextmanager
async def daemon(r: Rig) -> AsyncIterator[Clocks]:
    clocks = Clocks()
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: run_forever(
                r.config,
                stop=stop,
                sleep_until=clocks.sleep_until,
                on_cycle=clocks.on_cycle,
                fast_wait=clocks.fast_wait,
                handle_signals=False,
            )
        )
        await clocks._cycle_done.receive()  # the first (baseline) cycle
        await clocks._pass_idle.receive()  # the lane's task is waiting for its first pass
        try:
            yield clocks
        finally:
            stop.set()


def lookups(r: Rig, ad_id: str) -> int:
    """Requests that asked for this ad by id (the fast lane's, or a removal proof's)."""
    return sum(
        1
        for q in r.sim.requests
        # The spend figures of a rejection ask by id too, at another endpoint.
        if ("ad_ids", ad_id) in q.query and not q.path.endswith("/analytics")
    )


async def rejections(folder: Path, ad_id: str) -> list[Event]:
    store = await open_store(folder / "state.db")
    try:
        return [e for e in await store.events() if e.entity_id == ad_id and e.type == "ad.rejected"]
    finally:
        await store.close()


async def test_a_decision_between_cycles_is_alerted_by_the_fast_lane_once(tmp_path: Path) -> None:
    """An ad in review when the daemon starts is asked about by id; its rejection is sent
    after the next fast pass, and the full cycle that sees it again sends nothing more."""
    async with rig(tmp_path) as r:
        write_config(r)
        r.sim.world.set_pending(ADS[0])
        async with daemon(r) as clocks:
            r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
            assert lookups(r, ADS[0]) == 0
            await clocks.fast_pass()
            assert lookups(r, ADS[0]) == 1
            sent = await r.sink.wait_for(1)
            assert ADS[0] in str(sent[0].json)
            assert "reject" in str(sent[0].json).lower()
            await clocks.cycle()  # the full cycle lists the same decision
            await clocks.fast_pass()  # decided: it left the lane, nothing is asked
            assert lookups(r, ADS[0]) == 1
        assert len(await rejections(tmp_path, ADS[0])) == 1
        assert len(r.messages()) == 1


async def test_an_edited_ad_enters_the_lane_and_approved_ones_stay_out(tmp_path: Path) -> None:
    """An ad whose bytes changed in a cycle is watched by the lane (an edit sends it back
    to review); ads that nothing happened to are never asked about."""
    async with rig(tmp_path) as r:
        write_config(r)
        async with daemon(r) as clocks:
            await clocks.fast_pass()
            assert all(lookups(r, ad) == 0 for ad in ADS)
            r.sim.world.rename(ADS[1], "Holiday Ad 1 (new creative)")
            await clocks.cycle()
            r.sim.world.reject_ad(ADS[1], reasons=["LANDING_PAGE_DISABLED"])
            await clocks.fast_pass()
            assert lookups(r, ADS[1]) == 1
            assert [lookups(r, ad) for ad in ADS if ad != ADS[1]] == [0] * (len(ADS) - 1)
            await r.sink.wait_for(1)
        assert len(await rejections(tmp_path, ADS[1])) == 1


def test_lane_orders_by_waiting_time_and_forgets_decided_ads() -> None:
    lane = ReviewLane(window_s=100.0)
    pending = {"review_status": "PENDING", "summary_status": "PENDING"}
    approved = {"review_status": "APPROVED", "summary_status": "ACTIVE"}
    lane.observe("a", "3", pending, changed=False, decided=False, now=10.0)
    lane.observe("b", "1", pending, changed=False, decided=False, now=5.0)
    lane.observe("a", "2", approved, changed=True, decided=False, now=20.0)  # edited
    lane.observe("a", "4", approved, changed=False, decided=False, now=1.0)  # nothing new
    assert lane.due(10) == {"b": ["1"], "a": ["3", "2"]}
    assert lane.due(2) == {"b": ["1"], "a": ["3"]}
    lane.observe("a", "3", approved, changed=True, decided=True, now=30.0)
    assert lane.due(10) == {"b": ["1"], "a": ["2"]}
    lane.expire(now=121.0)  # the edit's window is over, and it never showed PENDING
    assert lane.due(10) == {"b": ["1"]}
    assert lane.oldest_age_s(now=121.0) == 116.0
    assert lane.size() == 1


def big_scenario(ads: int) -> dict[str, object]:
    """One account of ``ads`` generated ads."""
    return {
        "name": "fastlane-cap",
        "auth": {"access_tokens": [TOKEN]},
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Big",
                "generate": {"ads": ads, "campaigns": 2, "ad_groups_per_campaign": 2},
            }
        ],
    }


def lookup_requests(r: Rig) -> list[int]:
    """For each lookup by id the simulator answered, how many ids it asked for."""
    return [
        sum(1 for key, _ in q.query if key == "ad_ids")
        for q in r.sim.requests
        if any(key == "ad_ids" for key, _ in q.query)
    ]


async def test_the_lanes_share_of_the_budget_holds_under_5000_pending_ads(tmp_path: Path) -> None:
    """5,000 ads in review and room for 15 requests a pass (5% of 600/min over 30 s): each
    pass asks 15 x 250 of them, the rest go first in the next pass, none is asked twice
    before every one was asked once."""
    async with rig(tmp_path, big_scenario(5000)) as r:
        for ad_id in r.sim.world.ids_of(ACCOUNT, "ads"):
            r.sim.world.set_pending(str(ad_id))
        write_config(r)
        r.path.write_text(
            r.path.read_text().replace("retries = 2", "retries = 2\nrequests_per_minute = 600")
        )
        async with daemon(r) as clocks:
            await clocks.fast_pass()
            first = lookup_requests(r)
            assert first == [250] * 15
            await clocks.fast_pass()
            second = lookup_requests(r)[len(first) :]
            assert second == [250] * 15
        asked: list[str] = [v for q in r.sim.requests for k, v in q.query if k == "ad_ids"]
        assert len(set(asked)) == 5000  # two passes of 3,750: all 5,000, the oldest twice
        assert all(q.status == 200 for q in r.sim.requests)


async def test_a_hanging_lookup_never_holds_up_a_full_cycle(tmp_path: Path) -> None:
    """The fast pass's lookup hangs; a full cycle started meanwhile lists, diffs, commits
    and alerts while it still hangs."""
    async with rig(tmp_path) as r:
        write_config(r)
        r.sim.world.set_pending(ADS[0])
        async with daemon(r) as clocks, anyio.create_task_group() as tg:
            # The next request on the listing path is the lookup: it answers only after
            # far longer than the test may run (stopping the daemon cancels it).
            hang = r.sim.add_fault(path="/v5/ad_accounts/*/ads", kind="slow", delay_s=3600, times=1)
            tg.start_soon(clocks.fast_pass)
            # Until the lookup is under way (the simulator has no event for a fault
            # firing; each checkpoint lets its handler run on this loop).
            while not hang.fired:
                await anyio.lowlevel.checkpoint()
            r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
            await clocks.cycle()
            sent = await r.sink.wait_for(1)
            assert ADS[1] in str(sent[0].json)
            tg.cancel_scope.cancel()
