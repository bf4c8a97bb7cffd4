"""Never lose an alert: crash safety, retries, 410 Gone, per-target isolation, the outbox CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from monitor.config import load_config
from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, open_runtime, run_once
from monitor.schedule import RETRY_DELAYS_S, retry_at
from monitor.store.sqlite import open_store
from tests.harness import ADS, rig

pytestmark = [pytest.mark.timeout(60)]

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="


def add_webhook_route(path: Path, url: str, *, name: str = "hooks") -> None:
    with path.open("a") as config:
        config.write(
            f'\n[[routes]]\nname = "{name}"\nevents = ["ad.*"]\n'
            f'webhooks = [{{ url = "{url}", secret = "{SECRET}" }}]\n'
        )


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 5.0), (2, 300.0), (3, 1800.0), (4, 7200.0), (5, 18000.0), (6, 36000.0), (7, 36000.0)],
)
def test_retry_schedule(attempts: int, expected: float) -> None:
    """Failed deliveries follow Svix's schedule (±10 % jitter) over about 28 hours."""
    assert retry_at(attempts, 1000.0, jitter=0.5) == pytest.approx(1000.0 + expected)


def test_retry_after_wins_when_longer_and_last_attempt_dead_letters() -> None:
    """A target's Retry-After is honoured; after the last slot a delivery is dead."""
    assert retry_at(1, 0.0, retry_after_s=120.0, jitter=0.5) == pytest.approx(120.0)
    assert retry_at(len(RETRY_DELAYS_S) + 1, 0.0) is None


@pytest.mark.anyio
async def test_kill_9_mid_send_redelivers_same_event_once_detected(tmp_path: Path) -> None:
    """SIGKILL while a webhook is being sent: after restart it is sent again, same id, one event."""
    async with rig(tmp_path) as r:
        url = r.sink.url("/hook")
        add_webhook_route(r.path, url)
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sink.fail_next("/hook", status=200, delay_s=30.0)  # hangs: the kill lands mid-send
        proc = await anyio.open_process(
            [sys.executable, "-m", "monitor", "run", "--once", "-c", str(r.path)]
        )
        try:
            with anyio.fail_after(30):
                while not r.sink.on("/hook"):
                    await r.sink.wait_for(len(r.sink.requests) + 1, timeout_s=30)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        first = r.sink.on("/hook")[0].headers["webhook-id"]
        assert await run_once(r.config) == EXIT_OK
        hooks = r.sink.on("/hook")
        assert [h.headers["webhook-id"] for h in hooks] == [first, first]
        store = await open_store(tmp_path / "state.db")
        try:
            events = await store.events()
            assert [e.id for e in events] == [first]
            assert await store.deliveries(statuses=["pending", "failed", "dead"]) == []
        finally:
            await store.close()


@pytest.mark.anyio
async def test_gone_target_is_disabled_and_reported_elsewhere(tmp_path: Path) -> None:
    """A 410 Gone disables that webhook and sends monitor.target_disabled to the other routes."""
    async with rig(tmp_path) as r:
        add_webhook_route(r.path, r.sink.url("/gone"))
        r.path.write_text(r.path.read_text().replace('events = ["*"]', 'events = ["monitor.*"]'))
        r.sink.respond("/gone", status=410)
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED
        (alert,) = r.messages()
        assert "disabled a notification target" in alert["title"]
        assert SECRET not in json.dumps(alert)
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        await run_once(r.config)
        assert len(r.sink.on("/gone")) == 1  # never tried again while disabled


@pytest.mark.anyio
async def test_hanging_target_does_not_delay_the_others(tmp_path: Path) -> None:
    """One target that hangs until its timeout does not hold back another target's message."""
    async with rig(tmp_path) as r:
        add_webhook_route(r.path, r.sink.url("/slow"))
        r.path.write_text(
            r.path.read_text().replace("[monitor]", '[monitor]\nsend_timeout = "20s"')
        )
        r.sink.respond("/slow", delay_s=20.0)
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        async with open_runtime(r.config) as rt, anyio.create_task_group() as tg:
            await rt.poller.run_cycle()
            tg.start_soon(rt.deliverer.drain)
            with anyio.fail_after(5):  # far less than the slow target's 20 s
                # Both arrive: the slow target is being tried (and hangs) meanwhile.
                while not (r.messages() and r.sink.on("/slow")):
                    await r.sink.wait_for(len(r.sink.requests) + 1, timeout_s=5)
            tg.cancel_scope.cancel()
        assert "rejected" in r.messages()[0]["title"].lower()


@pytest.mark.anyio
async def test_deliveries_and_redeliver_commands(tmp_path: Path) -> None:
    """`pinmon deliveries` lists a failed send; `pinmon redeliver --failed` queues it again."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sink.respond("/alerts", status=400)
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "monitor", *args, "-c", str(r.path)],
                capture_output=True,
                text=True,
                timeout=60,
            )

        listed = cli("deliveries", "--json")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (row["status"], row["type"], row["route"]) == ("failed", "ad.rejected", "everything")
        assert "400" in row["last_error"]
        # The target is its outbox key, named by the label the daemon recorded for it.
        assert row["target"].startswith("apprise:")
        assert row["target_label"] == r.sink.url("/alerts", scheme="json")
        again = cli("redeliver", "--failed")
        assert again.returncode == 0
        assert "queued 1 delivery again" in again.stdout
        r.sink.respond("/alerts", status=200)
        assert await run_once(r.config) == EXIT_OK
        assert "rejected" in r.messages()[-1]["title"].lower()
        assert cli("deliveries").stdout.strip() == "no deliveries waiting or failed"


def test_redeliver_without_arguments_is_a_usage_error(tmp_path: Path) -> None:
    """`pinmon redeliver` with neither an event id nor --failed says so and exits 2."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        '[pinterest]\naccess_token = "x-token-123"\n[[routes]]\nname = "r"\n'
        'apprise = ["json://127.0.0.1:9/"]\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "redeliver", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "EVENT_ID or --failed" in out.stderr
    assert load_config(config).routes


@pytest.mark.anyio
async def test_redeliver_gives_an_event_the_targets_routed_to_it_now(tmp_path: Path) -> None:
    """An event redelivered after a route was added also goes to the new route's target."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        store = await open_store(tmp_path / "state.db")
        try:
            (event,) = await store.events()
        finally:
            await store.close()
        add_webhook_route(r.path, r.sink.url("/late"), name="late")
        out = await anyio.run_process(
            [sys.executable, "-m", "monitor", "redeliver", event.id, "-c", str(r.path)],
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert "queued 1 new delivery to targets it never had" in out.stdout.decode()
        assert await run_once(r.config) == EXIT_OK
        (late,) = r.sink.on("/late")
        assert late.headers["webhook-id"] == event.id
        assert len(r.messages()) == 2  # and the original target got it again
