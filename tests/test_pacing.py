"""No added wait at the commit, a message rate per group, and recovery in seconds (#14).

The delivery loop's passes are driven one at a time (``Deliverer.run_pass``) on an
injected clock shared with the poller, against the simulator, a real SQLite file and real
notifiers (apprise ``json://`` and a signed webhook) sending into a local HTTP sink.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from monitor.config import Config
from monitor.daemon import EXIT_OK, open_runtime, run_forever, run_once
from monitor.delivery import Deliverer
from monitor.pacing import DOWN_AFTER, PROBE_EVERY_S, PROBE_WINDOW_S, GroupPacer, TargetHealth
from monitor.poll import CycleReport
from monitor.store import STATUSES, Delivery, StateStore
from monitor.store.sqlite import open_store
from tests.harness import ADS, Rig, rig
from tests.test_outbox import add_webhook_route

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

T0 = 1_800_000_000.0


class Clock:
    """The daemon's wall clock, moved by the test."""

    def __init__(self, at: float = T0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def key_of(rt_notifiers: dict[str, object], prefix: str) -> str:
    (key,) = [k for k in rt_notifiers if k.startswith(prefix)]
    return key


async def rows_of(store: StateStore, target: str) -> list[Delivery]:
    rows = [d for d in await store.deliveries(statuses=STATUSES) if d.target == target]
    return sorted(rows, key=lambda d: d.id)


# --- the pure rules -------------------------------------------------------------------


def test_a_group_sends_its_first_message_at_once_then_one_per_interval() -> None:
    pacer = GroupPacer()
    group = ("r", "t", "acc")
    assert pacer.ready_at(group, [T0], 30.0) == 0.0  # nothing sent yet: at once
    pacer.sent(group, T0)
    assert pacer.ready_at(group, [T0 + 5], 30.0) == T0 + 30  # new since: wait the interval
    # Rows queued before that message (its overflow, or retries) are not held back.
    assert pacer.ready_at(group, [T0 - 1, T0], 30.0) == 0.0
    assert pacer.ready_at(("r", "t", "other"), [T0 + 5], 30.0) == 0.0  # groups are apart
    assert pacer.ready_at(group, [T0 + 5], 0.0) == 0.0  # group_interval 0: never held
    pacer.forget(before=T0 + 1)
    assert pacer.ready_at(group, [T0 + 5], 30.0) == 0.0


def test_a_target_is_down_after_failures_in_a_row_and_probed_every_30_s() -> None:
    health = TargetHealth()
    assert not any(health.failed(T0) for _ in range(DOWN_AFTER - 1))
    assert health.failed(T0)
    assert health.down
    assert health.hold_until(T0 + 1) == T0 + PROBE_EVERY_S
    assert health.hold_until(T0 + PROBE_EVERY_S) is None
    assert health.probing(T0 + PROBE_EVERY_S)
    assert not health.failed(T0 + PROBE_EVERY_S)  # still the same outage
    assert health.hold_until(T0 + PROBE_EVERY_S + 1) == T0 + 2 * PROBE_EVERY_S
    # Past the probe window nothing holds the deliveries' own schedule, and nothing
    # probes ahead of it.
    late = T0 + PROBE_WINDOW_S + 1
    assert health.hold_until(late) is None
    assert not health.probing(late)
    assert health.answered(late) == pytest.approx(PROBE_WINDOW_S + 1)
    assert not health.down
    assert health.failures == 0


def test_one_failure_is_not_an_outage() -> None:
    health = TargetHealth()
    health.failed(T0)
    assert health.answered(T0 + 1) is None  # it was never down
    assert not health.failed(T0 + 2) or DOWN_AFTER == 1


# --- one message per commit, then one per group_interval -------------------------------


async def test_a_cycles_events_go_out_as_one_message_without_waiting(tmp_path: Path) -> None:
    """Three rejections of one cycle: one digest at the first pass after the commit (no
    group_wait); two more a few seconds later wait out the group's interval and go as
    one; every event arrives exactly once."""
    async with rig(tmp_path) as r:
        clock = Clock()
        assert await run_once(r.config) == EXIT_OK  # the baseline
        base = len(r.messages())
        async with open_runtime(r.config, now=clock) as rt:
            d, key = rt.deliverer, key_of(rt.notifiers, "apprise")
            for ad in ADS[:3]:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
            await rt.poller.run_cycle()
            assert await d.run_pass(key) is None
            assert len(r.messages()) == base + 1
            clock.at += 5
            for ad in ADS[3:5]:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
            await rt.poller.run_cycle()
            interval = r.config.routes[0].group_interval_s
            assert await d.run_pass(key) == pytest.approx(T0 + interval)
            assert len(r.messages()) == base + 1  # held: one message per interval
            clock.at = T0 + interval
            assert await d.run_pass(key) is None
            rows = await rows_of(rt.store, key)
        messages = r.messages()[base:]
        assert len(messages) == 2
        assert "3 ads rejected" in messages[0]["title"]
        assert "2 ads rejected" in messages[1]["title"]
        assert [row.status for row in rows if row.event.type == "ad.rejected"] == ["delivered"] * 5


async def test_forty_rejections_over_three_passes_arrive_as_at_most_three_messages(
    tmp_path: Path,
) -> None:
    """A burst spread over three commits 10 s apart (fast passes would do this) reaches
    the target as two messages here, never one per commit past the first."""
    scenario_ads = [str(687195200000 + i) for i in range(40)]
    scenario = {
        "name": "burst",
        "auth": {"access_tokens": ["pina_e2e_secret_token_0123456789"]},
        "accounts": [
            {
                "id": "549755885175",
                "name": "Acme",
                "campaigns": [
                    {
                        "id": "626735565838",
                        "name": "C",
                        "ad_groups": [
                            {
                                "id": "2680059592705",
                                "name": "G",
                                "ads": [{"id": a, "name": f"Ad {a}"} for a in scenario_ads],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    async with rig(tmp_path, scenario) as r:
        r.write(page_size=250)
        clock = Clock()
        assert await run_once(r.config) == EXIT_OK
        base = len(r.messages())
        async with open_runtime(r.config, now=clock) as rt:
            d, key = rt.deliverer, key_of(rt.notifiers, "apprise")
            for part in (scenario_ads[:14], scenario_ads[14:27], scenario_ads[27:]):
                for ad in part:
                    r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
                await rt.poller.run_cycle()
                await d.run_pass(key)
                clock.at += 10
            clock.at += r.config.routes[0].group_interval_s
            assert await d.run_pass(key) is None
        messages = r.messages()[base:]
        assert 1 < len(messages) <= 3
        titles = [m["title"] for m in messages]
        assert titles == ["🚫 14 ads rejected in Acme", "🚫 26 ads rejected in Acme"]


async def test_one_cycles_forty_rejections_reach_the_target_within_a_second(
    tmp_path: Path,
) -> None:
    """The real daemon: 40 rejections in one cycle arrive as one message within a second
    of the commit (a group_interval of an hour: the old group_wait would have held them
    that long), or within the cycle's own time when the machine is that slow."""
    scenario_ads = [str(687195200000 + i) for i in range(40)]
    async with rig(tmp_path, _forty(scenario_ads)) as r:
        r.write(page_size=250)
        text = r.path.read_text()
        r.path.write_text(text.replace('events = ["*"]', 'events = ["*"]\ngroup_interval = "1h"'))
        config: Config = r.config
        ended: list[float] = []
        go_send, go = anyio.create_memory_object_stream[None](5)

        async def sleep_until(_deadline: float) -> None:
            await go.receive()

        baseline_done = anyio.Event()

        def on_cycle(report: CycleReport) -> None:
            ended.append(time.monotonic())
            baseline_done.set()

        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_forever(
                    config, stop=stop, sleep_until=sleep_until, on_cycle=on_cycle,
                    handle_signals=False,
                )
            )  # fmt: skip
            with anyio.fail_after(30):
                await baseline_done.wait()
            base = len(r.messages())
            for ad in scenario_ads:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
            started = time.monotonic()
            await go_send.send(None)
            await r.sink.wait_for(len(r.sink.requests) + 1, timeout_s=30)
            arrived = time.monotonic()
            stop.set()
        cycle_s = ended[1] - started
        assert arrived - ended[1] <= max(1.0, cycle_s)
        messages = r.messages()[base:]
        assert len(messages) == 1
        assert messages[0]["title"] == "🚫 40 ads rejected in Acme"


def _forty(ads: list[str]) -> dict[str, object]:
    return {
        "name": "forty",
        "auth": {"access_tokens": ["pina_e2e_secret_token_0123456789"]},
        "accounts": [
            {
                "id": "549755885175",
                "name": "Acme",
                "campaigns": [
                    {
                        "id": "626735565838",
                        "name": "C",
                        "ad_groups": [
                            {
                                "id": "2680059592705",
                                "name": "G",
                                "ads": [{"id": a, "name": f"Ad {a}"} for a in ads],
                            }
                        ],
                    }
                ],
            }
        ],
    }


# --- a target down, then back -------------------------------------------------------------


async def _hook_rig(r: Rig) -> None:
    """Ad events to a webhook only (the apprise route keeps pinmon's own reports)."""
    add_webhook_route(r.path, r.sink.url("/hook"))
    r.path.write_text(r.path.read_text().replace('events = ["*"]', 'events = ["monitor.*"]'))


async def test_a_target_down_for_40_s_gets_its_backlog_within_30_s_of_coming_back(
    tmp_path: Path,
) -> None:
    """Two failures in a row make the hook down: nothing more is sent to it but one probe
    every 30 s; it comes back at +40 s; the probe at +60 s succeeds and the whole backlog
    follows at once, in the order it was queued, each delivery sent once."""
    async with rig(tmp_path) as r:
        await _hook_rig(r)
        clock = Clock()
        assert await run_once(r.config) == EXIT_OK
        async with open_runtime(r.config, now=clock) as rt:
            d, key = rt.deliverer, key_of(rt.notifiers, "webhook")
            r.sink.respond("/hook", status=503)
            for ad in ADS:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
            await rt.poller.run_cycle()
            assert await d.run_pass(key) == T0 + PROBE_EVERY_S
            assert len(r.sink.on("/hook")) == DOWN_AFTER  # then it stopped trying
            clock.at = T0 + 15
            assert await d.run_pass(key) == T0 + PROBE_EVERY_S
            assert len(r.sink.on("/hook")) == DOWN_AFTER  # even though rows came due (5 s)
            clock.at = T0 + PROBE_EVERY_S
            assert await d.run_pass(key) == T0 + 2 * PROBE_EVERY_S
            assert len(r.sink.on("/hook")) == DOWN_AFTER + 1  # one probe
            clock.at = T0 + 40
            r.sink.respond("/hook", status=200)  # back
            assert await d.run_pass(key) == T0 + 2 * PROBE_EVERY_S
            clock.at = T0 + 2 * PROBE_EVERY_S
            assert await d.run_pass(key) is None
            rows = await rows_of(rt.store, key)
        hooks = r.sink.on("/hook")
        delivered = [h for h in hooks[DOWN_AFTER + 1 :]]
        assert len(delivered) == len(ADS)  # the probe and the rest, nothing twice
        ids = [h.headers["webhook-id"] for h in delivered]
        assert len(set(ids)) == len(ADS)
        # All delivered by the pass at +60 s: 20 s after the hook came back.
        assert [row.status for row in rows] == ["delivered"] * len(ADS)
        # In the order they were queued: the probe took the oldest, the backlog followed.
        assert ids == [row.event.id for row in rows]
        # Attempts count the deliveries' own slots, not every probe.
        assert max(row.attempts for row in rows) <= 3


async def test_a_restart_during_an_outage_probes_at_once(tmp_path: Path) -> None:
    """Deliveries that failed before a restart wait for a 5-minute slot in the store;
    the restarted loop probes with the oldest at once, and on success sends them all."""
    async with rig(tmp_path) as r:
        await _hook_rig(r)
        clock = Clock()
        assert await run_once(r.config) == EXIT_OK
        async with open_runtime(r.config, now=clock) as rt:
            key = key_of(rt.notifiers, "webhook")
            r.sink.respond("/hook", status=503)
            for ad in ADS[:3]:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
            await rt.poller.run_cycle()
            await rt.deliverer.run_pass(key)
            clock.at += 6
            await rt.deliverer.run_pass(key)
            clock.at += PROBE_EVERY_S
            await rt.deliverer.run_pass(key)
            before = len(r.sink.on("/hook"))
            pending = await rows_of(rt.store, key)
        assert all(row.status == "pending" and row.attempts >= 1 for row in pending)
        assert min(row.next_attempt_at for row in pending) > clock.at  # nothing due now
        r.sink.respond("/hook", status=200)
        clock.at += 1
        async with open_runtime(r.config, now=clock) as rt:  # the restart
            assert await rt.deliverer.run_pass(key) is None
            rows = await rows_of(rt.store, key)
        assert len(r.sink.on("/hook")) == before + 3
        assert [row.status for row in rows] == ["delivered"] * 3


async def test_probes_stop_after_the_window_and_the_long_schedule_decides(
    tmp_path: Path,
) -> None:
    """Past the first 10 minutes of an outage no probe goes ahead of the deliveries' own
    slots: a pass between slots sends nothing."""
    store = await open_store(tmp_path / "state.db")
    try:
        from monitor.notify.recording import RecordingNotifier
        from tests.test_delivery_batching import event

        hook = RecordingNotifier({"name": "down", "batch": False})
        clock = Clock()
        await store.record_events(
            [event(1), event(2)], deliveries=[(f"evt_000{n}", "r", hook.key) for n in (1, 2)],
            at=T0,
        )  # fmt: skip
        hook.fail_next(10_000)
        d = Deliverer(store, {hook.key: hook}, now=clock, monotonic=clock, rand=lambda: 0.5)
        while clock.at < T0 + PROBE_WINDOW_S:
            await d.run_pass(hook.key)
            clock.at += 1
        in_window = len(hook.messages)
        # two failures, then one probe per 30 s (each standing for both rows)
        assert in_window <= DOWN_AFTER + PROBE_WINDOW_S / PROBE_EVERY_S + 1
        rows = await store.due_deliveries(clock.at, limit=10, probe=True)
        next_slot = min(row.next_attempt_at for row in rows)
        assert next_slot > clock.at + PROBE_EVERY_S  # the long schedule: minutes away
        while clock.at < next_slot - 1:
            assert await d.run_pass(hook.key) is None
            clock.at += 10
        assert len(hook.messages) == in_window  # nothing between the slots
        clock.at = next_slot
        await d.run_pass(hook.key)
        assert len(hook.messages) == in_window + 1  # one send for both due rows
    finally:
        await store.close()
