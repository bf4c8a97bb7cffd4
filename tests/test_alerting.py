"""Alerts people want to read: mutes, reminders, resolution, start-up report, test sends, limits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from monitor.daemon import EXIT_OK, run_once
from monitor.store.sqlite import open_store
from tests.harness import ADS, CAMPAIGN, rig

pytestmark = [pytest.mark.timeout(60)]

DAY = 86_400.0


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def acli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a process, while this event loop keeps serving the simulator and sink."""
    done = await anyio.run_process(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)], check=False
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


@pytest.mark.anyio
async def test_muted_ad_is_recorded_not_sent_and_mute_expires(tmp_path: Path) -> None:
    """`pinmon mute --ad` silences that ad (the event is still in the history) until it expires."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        muted = cli(r.path, "mute", "--ad", ADS[0], "--for", "2h", "--reason", "known issue")
        assert muted.returncode == 0, muted.stderr
        assert "known issue" in cli(r.path, "mutes").stdout
        assert "known issue" in cli(r.path, "status").stdout
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        assert "Holiday Ad 1" in message["title"]
        assert "Holiday Ad 0" not in message["message"]
        store = await open_store(tmp_path / "state.db")
        try:
            assert {e.entity_id for e in await store.events()} == {ADS[0], ADS[1]}
        finally:
            await store.close()
        # Three hours later the mute has expired on its own.
        import time

        later = time.time() + 3 * 3600
        r.sim.world.approve_ad(ADS[0])
        assert await run_once(r.config, now=lambda: later) == EXIT_OK
        assert "Holiday Ad 0" in r.messages()[-1]["title"]


@pytest.mark.anyio
async def test_campaign_mute_and_unmute(tmp_path: Path) -> None:
    """A campaign mute silences its ads; `pinmon unmute` lifts it at once."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        assert cli(r.path, "mute", "--campaign", CAMPAIGN, "--for", "1d").returncode == 0
        r.sim.world.pause(ADS[2])
        await run_once(r.config)
        assert r.messages() == []
        out = cli(r.path, "unmute", "--campaign", CAMPAIGN)
        assert out.returncode == 0
        assert "unmuted" in out.stdout
        r.sim.world.activate(ADS[2])
        await run_once(r.config)
        assert len(r.messages()) == 1
        assert cli(r.path, "unmute", "--campaign", CAMPAIGN).returncode == 1


def test_mute_rejects_bad_input(tmp_path: Path) -> None:
    """A non-numeric id or a bad duration is a usage error (exit 2), not a traceback."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        '[pinterest]\naccess_token = "tok-123456"\n[[routes]]\nname = "r"\n'
        'apprise = ["json://127.0.0.1:9/"]\n'
    )
    for args in (["--ad", "abc", "--for", "1h"], ["--ad", "123", "--for", "soon"]):
        out = cli(config, "mute", *args)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr


@pytest.mark.anyio
async def test_reminder_while_rejected_then_resolved(tmp_path: Path) -> None:
    """With repeat_after, a still-rejected ad is reminded of; its approval reads as resolved."""
    async with rig(tmp_path) as r:
        r.path.write_text(
            r.path.read_text().replace('events = ["*"]', 'events = ["*"]\nrepeat_after = "24h"')
        )
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        t0 = __import__("time").time()
        await run_once(r.config, now=lambda: t0)
        await run_once(r.config, now=lambda: t0 + 3600)  # too early for a reminder
        assert len(r.messages()) == 1
        await run_once(r.config, now=lambda: t0 + DAY + 60)
        await run_once(r.config, now=lambda: t0 + DAY + 120)  # not twice for one period
        titles = [m["title"] for m in r.messages()]
        assert len(titles) == 2
        assert "still rejected" in titles[1]
        r.sim.world.approve_ad(ADS[0])
        await run_once(r.config, now=lambda: t0 + DAY + 180)
        assert "Resolved" in r.messages()[-1]["title"]
        await run_once(r.config, now=lambda: t0 + 3 * DAY)
        assert len(r.messages()) == 3  # resolved: no more reminders


@pytest.mark.anyio
async def test_report_on_start_sends_one_digest_of_what_is_already_wrong(tmp_path: Path) -> None:
    """report_on_start: the first cycle sends one message listing the ads rejected already."""
    async with rig(tmp_path) as r:
        r.write(extra_monitor="report_on_start = true")
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"], labels=["Too many hashtags"])
        r.sim.world.reject_ad(ADS[3], reasons=["CLICKBAIT"])
        assert await run_once(r.config) == EXIT_OK
        (digest,) = r.messages()
        assert "2 ads are rejected" in digest["title"]
        assert "Holiday Ad 0" in digest["message"]
        assert "Holiday Ad 3" in digest["message"]
        assert "Too many hashtags" in digest["message"]
        assert await run_once(r.config) == EXIT_OK
        assert len(r.messages()) == 1


@pytest.mark.anyio
async def test_notify_test_reports_each_target(tmp_path: Path) -> None:
    """`pinmon notify-test` sends a realistic sample and fails (exit 1) on an HTTP error."""
    async with rig(tmp_path) as r:
        ok = await acli(r.path, "notify-test")
        assert ok.returncode == 0, ok.stderr
        assert "everything: " in ok.stdout
        assert ": ok" in ok.stdout
        (sample,) = r.messages()
        assert "rejected" in sample["title"].lower()
        assert "Landing page" in sample["message"]
        r.sink.respond("/alerts", status=500)
        bad = await acli(r.path, "notify-test", "--route", "everything")
        assert bad.returncode == 1
        assert "FAILED" in bad.stdout
        assert "500" in bad.stdout
        missing = await acli(r.path, "notify-test", "--route", "nope")
        assert missing.returncode == 2


@pytest.mark.anyio
async def test_digest_is_cut_to_the_channel_limit(tmp_path: Path) -> None:
    """Forty rejections at once become one message per target with "…and N more"."""
    scenario = __import__("tests.harness", fromlist=["small_scenario"]).small_scenario()
    ads = scenario["accounts"][0]["campaigns"][0]["ad_groups"][0]["ads"]
    ads += [{"id": str(687195200000 + i), "name": f"Bulk Ad {i}"} for i in range(40)]
    async with rig(tmp_path, scenario) as r:
        r.write(page_size=250)
        await run_once(r.config)
        for ad in ads[5:]:
            r.sim.world.reject_ad(ad["id"], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (digest,) = r.messages()
        assert "40 ads rejected" in digest["title"]
        assert "…and 20 more" in digest["message"]


def test_digest_fits_a_small_channel_limit() -> None:
    """A target with Discord's 2,000-character limit gets a digest that fits, "…and N more"."""
    from monitor.delivery import Deliverer
    from monitor.events import Event, FieldChange
    from monitor.notify import Message, SendResult
    from monitor.render.escape import MARKDOWN
    from monitor.store import Delivery

    class Discordish:
        key, label, batch, body_limit = "d", "discord://****", True, 2000
        dialect = MARKDOWN

        async def send(self, message: Message) -> SendResult:  # pragma: no cover - unused
            return SendResult(True, self.label)

    events = [
        Event(id=f"evt_{i}", type="ad.rejected", entity="ad", entity_id=str(1000 + i),
              ad_account_id="549755885175", name=f"Spring campaign creative number {i}",
              detected_at=0.0, changes={"review_status": FieldChange("APPROVED", "REJECTED")},
              state={"review_status": "REJECTED", "rejection_labels": ["Misleading claims"]})
        for i in range(60)
    ]
    deliveries = [Delivery(i, e, "r", "d", 0, "pending", 0.0, None, 0.0) for i, e in enumerate(events)]
    deliverer = Deliverer(None, {"d": Discordish()})  # type: ignore[arg-type]
    message = deliverer.message_for(deliveries, Discordish())
    assert len(message.body) <= 2000
    assert "more" in message.body
    assert "60 ads rejected" in message.title
