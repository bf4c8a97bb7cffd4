"""Nothing dies quietly: dead deliveries are reported, a 410 from any target disables it, and
retries survive a step of the wall clock (while running, and across a restart)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, open_runtime, run_once
from monitor.schedule import MAX_WAIT_S, RETRY_DELAYS_S
from monitor.store.sqlite import open_store
from tests.harness import ADS, Rig, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="
DAY = 86_400.0


def routes(r: Rig, *, target: str) -> None:
    """Ads to ``target`` (an apprise or webhook line); pinmon's own reports to /ops."""
    text = r.path.read_text()
    head = text[: text.index("[[routes]]")]
    r.path.write_text(
        head
        + f'[[routes]]\nname = "ads"\nevents = ["ad.*"]\ngroup_wait = "0s"\n{target}\n'
        + f'[[routes]]\nname = "ops"\nevents = ["monitor.*"]\napprise = ["{r.sink.url("/ops", scheme="json")}"]\n'
    )


def ops(r: Rig) -> list[dict[str, str]]:
    return [q.json for q in r.sink.on("/ops")]


async def test_an_apprise_target_answering_410_is_disabled(tmp_path: Path) -> None:
    """410 Gone from an apprise target disables it as it does a webhook, and says so."""
    async with rig(tmp_path) as r:
        routes(r, target=f'apprise = ["{r.sink.url("/alerts", scheme="json")}"]')
        r.sink.respond("/alerts", status=410)
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED
        (report,) = ops(r)
        assert "disabled a notification target" in report["title"]
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        await run_once(r.config)
        assert len(r.sink.on("/alerts")) == 1  # never tried again while disabled


async def test_a_refused_delivery_is_reported_but_not_to_its_own_target(tmp_path: Path) -> None:
    """A webhook that refuses for good (400) makes monitor.delivery_dead reach the ops route."""
    async with rig(tmp_path) as r:
        hook = f'webhooks = [{{ url = "{r.sink.url("/hook")}", secret = "{SECRET}" }}]'
        routes(r, target=hook)
        r.path.write_text(r.path.read_text() + hook + "\n")  # ops also has the dead webhook
        r.sink.respond("/hook", status=400)
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED
        dead = [m for m in ops(r) if "gave up delivering" in m["title"]]
        assert len(dead) == 1, ops(r)
        assert "HTTP 400" in dead[0]["message"]
        assert "/hook" in dead[0]["message"]  # the masked label names the target
        assert SECRET not in json.dumps(dead)
        # The webhook got the rejection (and refused it), never the report about itself.
        assert [h.json["type"] for h in r.sink.on("/hook")] == ["ad.rejected"]


async def test_a_delivery_out_of_retries_is_reported_once(tmp_path: Path) -> None:
    """After the last retry of a failing target, monitor.delivery_dead goes out, once."""
    async with rig(tmp_path) as r:
        routes(r, target=f'apprise = ["{r.sink.url("/alerts", scheme="json")}"]')
        r.sink.respond("/alerts", status=503)
        clock = [1_800_000_000.0]
        await run_once(r.config, now=lambda: clock[0])
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        async with open_runtime(r.config, now=lambda: clock[0]) as rt:
            await rt.poller.run_cycle()
            for _ in range(len(RETRY_DELAYS_S) + 1):
                await rt.deliverer.drain()
                clock[0] += MAX_WAIT_S + 1
            await rt.deliverer.drain()
        assert len(r.sink.on("/alerts")) == len(RETRY_DELAYS_S) + 1
        (dead,) = [m for m in ops(r) if "gave up delivering" in m["title"]]
        assert "**Attempts:** 8" in dead["message"]
        assert "503" in dead["message"]


async def test_a_clock_stepped_back_a_day_does_not_stall_a_retry(tmp_path: Path) -> None:
    """While the daemon runs, the wall clock jumps back a day: the retry still goes out
    on schedule, not a day late."""
    async with rig(tmp_path) as r:
        routes(r, target=f'apprise = ["{r.sink.url("/alerts", scheme="json")}"]')
        wall, mono = [1_800_000_000.0], [1_000.0]
        await run_once(r.config, now=lambda: wall[0])
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sink.fail_next("/alerts", status=503)
        async with (
            open_runtime(r.config, now=lambda: wall[0], monotonic=lambda: mono[0]) as rt,
            anyio.create_task_group() as tg,
        ):
            await rt.poller.run_cycle()
            tg.start_soon(lambda: rt.deliverer.run(tick_s=0.05))
            await r.sink.wait_for(1, timeout_s=10)  # the first try, refused
            # Six seconds pass (the first retry is due after about five), and meanwhile
            # the wall clock is set back by a day.
            mono[0] += 6.0
            wall[0] += 6.0 - DAY
            await r.sink.wait_for(2, timeout_s=10)
            rt.deliverer.stop()
            tg.cancel_scope.cancel()
        assert "rejected" in r.sink.on("/alerts")[1].json["title"].lower()


async def test_at_start_no_retry_waits_longer_than_the_schedule_allows(tmp_path: Path) -> None:
    """Rows scheduled by a clock that was a day ahead are brought back within the longest
    wait the schedule has, and count as queued now."""
    async with rig(tmp_path) as r:
        routes(r, target=f'apprise = ["{r.sink.url("/alerts", scheme="json")}"]')
        r.sink.respond("/alerts", status=503)
        ahead = 1_800_000_000.0 + 2 * DAY
        await run_once(r.config, now=lambda: ahead)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        await run_once(r.config, now=lambda: ahead)  # queued and tried at the wrong time
        now = 1_800_000_000.0
        async with open_runtime(r.config, now=lambda: now) as rt:
            await rt.deliverer.drain()
        store = await open_store(tmp_path / "state.db")
        try:
            (row,) = await store.deliveries(statuses=["pending"])
        finally:
            await store.close()
        assert row.next_attempt_at <= now + MAX_WAIT_S
        assert row.created_at <= now


async def test_run_once_after_a_good_send_has_nothing_dead(tmp_path: Path) -> None:
    """The healthy path reports nothing about itself."""
    async with rig(tmp_path) as r:
        routes(r, target=f'apprise = ["{r.sink.url("/alerts", scheme="json")}"]')
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        assert ops(r) == []
        assert len(r.sink.on("/alerts")) == 1
