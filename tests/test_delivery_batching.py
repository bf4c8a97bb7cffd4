"""Send outcomes written in batches: nothing lost in a crash, nothing held past shutdown,
no row sent twice in one run, a failed write kept for the next; no text for webhooks."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest

from monitor.daemon import EXIT_OK, open_runtime, run_once
from monitor.delivery import Deliverer
from monitor.errors import StoreError
from monitor.events import Event
from monitor.ledger import Ledger
from monitor.notify.recording import RecordingNotifier
from monitor.notify.webhook import WebhookNotifier
from monitor.store import STATUSES, Delivery, Settlement, StateStore
from monitor.store.sqlite import open_store
from tests.harness import ADS, Rig, rig
from tests.test_outbox import SECRET, add_webhook_route

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HELD = Path(__file__).with_name("held_outcomes.py")
#: A ledger that writes only when told to: what a crash at the wrong moment would lose.
NEVER = {"flush_rows": 10**9, "flush_after_s": float("inf")}


def event(n: int) -> Event:
    return Event(
        id=f"evt_{n:04d}", type="ad.rejected", entity="ad", entity_id=f"e{n}",
        ad_account_id="acc", detected_at=1000.0 + n,
    )  # fmt: skip


async def three_rejections_to_a_hook(r: Rig) -> None:
    """Webhook /hook gets every ad event; the apprise route only pinmon's own reports (so
    that its pass ends, and writes, on its own schedule, not the hook's)."""
    add_webhook_route(r.path, r.sink.url("/hook"))
    r.path.write_text(r.path.read_text().replace('events = ["*"]', 'events = ["monitor.*"]'))
    assert await run_once(r.config) == EXIT_OK  # the baseline: nothing to send
    for ad in ADS[:3]:
        r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
    r.sink.fail_next("/hook", status=200, times=2)  # two answered at once...
    r.sink.fail_next("/hook", status=200, delay_s=30.0)  # ...the third hangs


async def statuses(path: Path) -> list[str]:
    store = await open_store(path)
    try:
        rows = await store.deliveries(statuses=STATUSES)
        return [d.status for d in sorted(rows, key=lambda d: d.id)]
    finally:
        await store.close()


async def wait_for_hooks(r: Rig, n: int) -> None:
    with anyio.fail_after(30):
        while len(r.sink.on("/hook")) < n:
            await r.sink.wait_for(len(r.sink.requests) + 1, timeout_s=30)


async def test_kill_9_with_outcomes_held_resends_them_and_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL after two sends whose outcomes were not yet written: the next start sends
    those two again with the same webhook-id, sends the third, and every row ends delivered."""
    async with rig(tmp_path) as r:
        await three_rejections_to_a_hook(r)
        env = {**os.environ, "PYTHONPATH": str(HELD.parents[1])}
        proc = await anyio.open_process([sys.executable, str(HELD), str(r.path)], env=env)
        try:
            await wait_for_hooks(r, 3)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        # The two answered sends were held, never written: as if never attempted.
        assert await statuses(tmp_path / "state.db") == ["pending"] * 3

        assert await run_once(r.config) == EXIT_OK
        ids = [h.headers["webhook-id"] for h in r.sink.on("/hook")]
        assert len(set(ids[:3])) == 3
        assert ids[3:] == ids[:3]  # the same events, the same ids: receivers de-duplicate
        assert await statuses(tmp_path / "state.db") == ["delivered"] * 3


async def test_shutdown_writes_what_was_sent_before_the_send_it_cancels(tmp_path: Path) -> None:
    """When the shutdown's grace runs out mid-send, the outcomes held for the sends before
    it are written on the way out: only the cancelled send is made again at the next start."""
    async with rig(tmp_path) as r:
        await three_rejections_to_a_hook(r)
        async with open_runtime(r.config) as rt:
            await rt.poller.run_cycle()
            ledger = Ledger(rt.store, **NEVER)
            deliverer = Deliverer(rt.store, rt.notifiers, routes=r.config.routes, ledger=ledger)
            scope = anyio.CancelScope()

            async def deliver() -> None:
                with scope:
                    await deliverer.run()

            async with anyio.create_task_group() as tg:
                deliverer.wake()
                tg.start_soon(deliver)
                await wait_for_hooks(r, 3)
                deliverer.stop()
                scope.cancel()  # what the daemon does when shutdown_grace is over
        assert await statuses(tmp_path / "state.db") == ["delivered", "delivered", "pending"]

        assert await run_once(r.config) == EXIT_OK
        ids = [h.headers["webhook-id"] for h in r.sink.on("/hook")]
        assert ids[3:] == ids[2:3]
        assert await statuses(tmp_path / "state.db") == ["delivered"] * 3


async def test_a_pass_longer_than_one_fetch_sends_every_row_once(tmp_path: Path) -> None:
    """More rows than one fetch takes, nothing written until the pass ends: each row is
    still sent exactly once, because what was sent is written before the next fetch."""
    store = await open_store(tmp_path / "state.db")
    try:
        events = [event(n) for n in range(1200)]
        pairs = [(e.id, "r", "recording:one") for e in events]
        await store.record_events(events, deliveries=pairs, at=1000.0)
        notifier = RecordingNotifier({"name": "one", "batch": False})
        deliverer = Deliverer(
            store, {notifier.key: notifier}, now=lambda: 2000.0, ledger=Ledger(store, **NEVER)
        )
        report = await deliverer.drain()
        assert report.sent == 1200
        assert sorted(e.id for e in notifier.events) == sorted(e.id for e in events)
        assert await store.deliveries(statuses=["pending"]) == []
    finally:
        await store.close()


async def test_outcomes_a_failing_store_refused_are_written_by_the_next_flush(
    tmp_path: Path,
) -> None:
    """A write that fails holds its outcomes again, ahead of newer ones; the next write
    records them all, each once."""
    path = tmp_path / "state.db"
    store = await open_store(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await store.record_events(
            [event(n) for n in range(4)], deliveries=[(f"evt_{n:04d}", "r", "t") for n in range(4)],
            at=1000.0,
        )  # fmt: skip
        first, *rest = await store.due_deliveries(1000.0)
        ledger = Ledger(store, **NEVER)
        ledger.add(Settlement.delivered(d, 1001.0) for d in rest)
        other.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON deliveries"
            " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        with pytest.raises(StoreError, match="disk says no"):
            await ledger.flush()
        assert len(ledger) == 3
        ledger.add([Settlement.failed(first, 1001.0, "HTTP 503", 1030.0)])
        other.execute("DROP TRIGGER refuse")
        await ledger.flush()
        assert len(ledger) == 0
        rows = {d.id: d for d in await store.deliveries(statuses=STATUSES)}
        assert [(rows[d.id].status, rows[d.id].attempts) for d in rest] == [("delivered", 1)] * 3
        assert (rows[first.id].status, rows[first.id].attempts) == ("pending", 1)
    finally:
        other.close()
        await store.close()


async def test_outcomes_are_due_for_writing_by_count_or_by_age(tmp_path: Path) -> None:
    """The ledger asks to be written once enough outcomes wait, or the oldest waited long
    enough, and not before."""
    store: StateStore = await open_store(tmp_path / "state.db")
    try:
        await store.record_events(
            [event(n) for n in range(3)], deliveries=[(f"evt_{n:04d}", "r", "t") for n in range(3)],
            at=1000.0,
        )  # fmt: skip
        due = await store.due_deliveries(1000.0)
        clock = [0.0]
        ledger = Ledger(store, flush_rows=3, flush_after_s=0.5, monotonic=lambda: clock[0])
        assert not ledger.due
        ledger.add([Settlement.delivered(due[0], 1001.0)])
        clock[0] = 0.4
        ledger.add([Settlement.delivered(due[1], 1001.0)])
        assert not ledger.due
        clock[0] = 0.5  # the first has waited flush_after_s
        assert ledger.due
        await ledger.flush()
        assert not ledger.due
        ledger.add(Settlement.delivered(d, 1001.0) for d in due)  # 3 = flush_rows, at once
        assert ledger.due
    finally:
        await store.close()


async def test_webhooks_get_no_rendered_text_and_text_targets_do() -> None:
    """Nothing is rendered for a target that sends the events themselves; the level is
    still the event's, and a target that sends text gets its title and body."""
    hook = WebhookNotifier("http://127.0.0.1:9/in", [SECRET])
    text = RecordingNotifier()
    deliverer = Deliverer(None, {hook.key: hook, text.key: text})  # type: ignore[arg-type]
    row = Delivery(1, event(1), "r", hook.key, 0, "pending", 1000.0, None, 1000.0)
    bare = deliverer.message_for([row], hook)
    assert (bare.title, bare.body, bare.level, bare.events) == ("", "", "failure", (event(1),))
    rendered = deliverer.message_for([row], text)
    assert "rejected" in rendered.title.lower()
    assert rendered.body
    assert (rendered.level, rendered.events) == ("failure", (event(1),))


async def test_a_failure_mid_batch_settles_each_row_as_its_own_send_went(tmp_path: Path) -> None:
    """Three rows in one batch of outcomes, the middle send refused with a 503: the rows
    before and after it are delivered, the middle one waits for its retry, each with one
    attempt, all written in one go at the end of the pass."""
    async with rig(tmp_path) as r:
        add_webhook_route(r.path, r.sink.url("/hook"))
        r.path.write_text(r.path.read_text().replace('events = ["*"]', 'events = ["monitor.*"]'))
        assert await run_once(r.config) == EXIT_OK  # the baseline: nothing to send
        for ad in ADS[:3]:
            r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
        r.sink.fail_next("/hook", status=200)
        r.sink.fail_next("/hook", status=503)
        async with open_runtime(r.config) as rt:
            await rt.poller.run_cycle()
            ledger = Ledger(rt.store, **NEVER)
            deliverer = Deliverer(rt.store, rt.notifiers, routes=r.config.routes, ledger=ledger)
            report = await deliverer.drain()
            assert (report.sent, report.failed) == (2, 1)
            rows = sorted(await rt.store.deliveries(statuses=STATUSES), key=lambda d: d.id)
        sent = [h.headers["webhook-id"] for h in r.sink.on("/hook")]
        assert len(sent) == 3
        assert sorted(sent) == sorted(d.event.id for d in rows)
        by_event = {d.event.id: d for d in rows}
        assert [(by_event[i].status, by_event[i].attempts) for i in sent] == [
            ("delivered", 1),
            ("pending", 1),
            ("delivered", 1),
        ]
        refused = by_event[sent[1]]
        assert refused.last_error is not None
        assert "503" in refused.last_error
        assert refused.next_attempt_at > refused.created_at


async def test_a_stop_ends_the_loop_without_waiting_out_a_tick(tmp_path: Path) -> None:
    """stop() ends run() at once, having written what it sent: no loop that only waits
    for time (the clock watcher, the outcome flusher) holds the shutdown for its tick."""
    tick_s = 30.0
    store = await open_store(tmp_path / "state.db")
    try:
        await store.record_events(
            [event(1)], deliveries=[("evt_0001", "r", "recording:one")], at=1000.0
        )
        notifier = RecordingNotifier({"name": "one", "batch": False})
        sent, done = anyio.Event(), anyio.Event()
        deliverer = Deliverer(
            store, {notifier.key: notifier}, now=lambda: 2000.0, on_result=lambda *_: sent.set()
        )

        async def run() -> None:
            await deliverer.run(tick_s=tick_s)
            done.set()

        async with anyio.create_task_group() as tg:
            deliverer.wake()
            tg.start_soon(run)
            with anyio.fail_after(tick_s / 3):
                await sent.wait()
            deliverer.stop()
            with anyio.fail_after(tick_s / 3):  # a tick's sleep would take all of tick_s
                await done.wait()
        (row,) = await store.deliveries(statuses=STATUSES)
        assert row.status == "delivered"
    finally:
        await store.close()
