"""The history and status commands, as a user runs them after a few cycles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.daemon import run_once
from tests.harness import ADS, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)],
        capture_output=True, text=True, timeout=60,
    )


async def test_events_and_status_after_a_rejection(tmp_path: Path) -> None:
    """`pinmon events` filters the history; `pinmon status` shows the ad rejected right now."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[1], reasons=["LANDING_PAGE_BROKEN"], labels=["Landing page is broken"])
        r.sim.world.pause(ADS[2])
        await run_once(r.config)
    rejected = cli(r.path, "events", "--type", "ad.rejected", "--json")
    assert rejected.returncode == 0, rejected.stderr
    (event,) = [json.loads(line) for line in rejected.stdout.splitlines()]
    assert (event["type"], event["ad_id"], event["version"]) == ("ad.rejected", ADS[1], 1)
    everything = cli(r.path, "events", "--since", "1h")
    assert everything.stdout.count("\n") == 2
    assert "ad.status_changed" in everything.stdout
    assert cli(r.path, "events", "--since", "soon").returncode == 2
    status = cli(r.path, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["accounts"][0]["account_id"] == "549755885175"
    text = cli(r.path, "status").stdout
    assert "Holiday Ad 1" in text
    assert "Landing page is broken" in text
