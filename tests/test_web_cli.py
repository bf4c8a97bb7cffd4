"""`pinmon events --ad` and `pinmon web`, run as a user runs them, as subprocesses."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from aiohttp import ClientSession

from monitor.daemon import run_once
from tests.harness import ADS, TOKEN, rig
from tests.web_rig import REJECTED, filled

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_events_ad_prints_the_timeline_with_deliveries(tmp_path: Path) -> None:
    """The ad's events newest first, old → new, reasons in words, where each went."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(
            REJECTED, reasons=["LANDING_PAGE_BROKEN"], labels=["Landing page is broken"]
        )
        await run_once(r.config)
        r.sim.world.approve_ad(REJECTED)
        await run_once(r.config)
    text = cli(r.path, "events", "--ad", REJECTED)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"ad {REJECTED}  Holiday Ad 1")
    approved = next(i for i, line in enumerate(lines) if "ad.approved" in line)
    rejected = next(i for i, line in enumerate(lines) if "ad.rejected" in line)
    assert approved < rejected  # newest first
    assert "    review_status: REJECTED -> APPROVED" in lines
    assert "    why: Landing page is broken" in lines
    assert any(
        line.startswith("    -> json://") and "delivered, 1 attempt" in line for line in lines
    )
    assert TOKEN not in text.stdout
    as_json = cli(r.path, "events", "--ad", REJECTED, "--json")
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["type"] for e in records] == ["ad.approved", "ad.rejected"]
    assert records[1]["deliveries"][0]["status"] == "delivered"
    unknown = cli(r.path, "events", "--ad", "42")
    assert unknown.returncode == 1
    assert "no ad 42" in unknown.stdout
    assert cli(r.path, "events", "--ad", "4x").returncode == 2
    untouched = cli(r.path, "events", "--ad", ADS[4])  # stored, never changed
    assert untouched.returncode == 0
    assert "no events" in untouched.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_pinmon_web_serves_the_state_and_refuses_a_wide_bind(tmp_path: Path) -> None:
    """`pinmon web` serves the board from the state; 0.0.0.0 without a token is refused."""
    async with filled(tmp_path) as f:
        await f.store.close()
        refused = cli(f.rig.path, "web", "--listen", "0.0.0.0:0")
        assert refused.returncode == 2
        assert "[web] token" in refused.stderr
        port = _free_port()
        proc = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "monitor",
                "web",
                "-c",
                str(f.rig.path),
                "--listen",
                f"127.0.0.1:{port}",
            ]
        )
        try:
            async with ClientSession() as http:
                html = ""
                with anyio.fail_after(30):
                    while not html:
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/") as response:
                                html = await response.text()
                        except OSError:
                            await anyio.sleep(0.05)
            assert "Holiday Ad 1" in html
            assert "Landing page is broken" in html
        finally:
            proc.terminate()
            with anyio.fail_after(10):
                assert await proc.wait() == 0
