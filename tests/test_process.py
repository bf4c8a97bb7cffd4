"""The `pinmon` CLI as processes: a standalone simulator, the daemon looping until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.harness import ACCOUNT, ADS, TOKEN, small_scenario
from tests.sink import HttpSink

pytestmark = [pytest.mark.timeout(90)]

SCENARIO = f"""
name = "process"
[auth]
access_tokens = ["{TOKEN}"]

[[accounts]]
id = "{ACCOUNT}"
name = "Acme Home & Living"
  [[accounts.campaigns]]
  id = "626735565838"
  name = "Holiday Sale 2024"
    [[accounts.campaigns.ad_groups]]
    id = "2680059592705"
    name = "Gift Shoppers"
{
    "".join(
        f'''      [[accounts.campaigns.ad_groups.ads]]
      id = "{ad}"
      name = "Holiday Ad {i}"
'''
        for i, ad in enumerate(ADS)
    )
}
[[timeline]]
at_cycle = 2
action = "reject"
ads = ["{ADS[0]}"]
reasons = ["HASHTAGS", "LANDING_PAGE_BROKEN"]
bump_updated_time = false
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PINMON_TEST_TOKEN"] = TOKEN
    return env


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    """`pinmon simulate` as a separate process; yields the base URL it printed."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    assert small_scenario()  # the same shape as the in-process rig
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--scenario", str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("pinmon simulator listening: base_url = "), line
        yield line.split('"')[1]
    finally:
        proc.terminate()
        proc.wait(10)


def _config(tmp_path: Path, base_url: str, sink: HttpSink) -> Path:
    path = tmp_path / "pinmon.toml"
    path.write_text(
        f"""
[pinterest]
base_url = "{base_url}"
access_token = "${{PINMON_TEST_TOKEN}}"
page_size = 2

[monitor]
interval = "0.3s"
state = "state.db"

[[routes]]
name = "everything"
events = ["*"]
group_wait = "0s"
apprise = ["{sink.url("/alerts", scheme="json")}"]
"""
    )
    return path


@pytest.mark.anyio
async def test_daemon_loops_alerts_and_stops_cleanly_on_sigterm(
    tmp_path: Path, simulator: str
) -> None:
    """`pinmon run` polls on its interval, delivers the rejection, and exits 0 on SIGTERM."""
    async with HttpSink() as sink:
        config = _config(tmp_path, simulator, sink)
        proc = await anyio.open_process(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-format", "json"],
            env=_env(),
        )
        try:
            (request,) = await sink.wait_for(1, timeout_s=30)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                code = await proc.wait()
            assert proc.stderr is not None
            logs = (await proc.stderr.receive(1 << 20)).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 0
    assert "Holiday Ad 0" in request.json["title"]
    assert "Landing page" in request.json["message"]
    assert '"event": "daemon.stopped"' in logs
    assert "Traceback" not in logs
    assert TOKEN not in logs


def test_run_once_cli_exit_codes(tmp_path: Path, simulator: str) -> None:
    """`pinmon run --once` exits 0 after a good cycle, and 1 when the API is unreachable."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        f"""
[pinterest]
base_url = "{simulator}"
access_token = "${{PINMON_TEST_TOKEN}}"
retries = 1
[monitor]
state = "state.db"
[[routes]]
name = "nowhere"
apprise = ["json://127.0.0.1:9/"]
"""
    )
    once = [sys.executable, "-m", "monitor", "run", "--once", "-c", str(config)]
    ok = subprocess.run(once, capture_output=True, text=True, env=_env(), timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "state.db").exists()
    assert oct((tmp_path / "state.db").stat().st_mode & 0o777) == "0o600"
    config.write_text(config.read_text().replace(simulator, "http://127.0.0.1:9/v5"))
    down = subprocess.run(once, capture_output=True, text=True, env=_env(), timeout=60)
    assert down.returncode == 1
    assert "Traceback" not in down.stderr
    assert TOKEN not in down.stderr + down.stdout


def test_check_reports_accounts_and_masks_targets(tmp_path: Path, simulator: str) -> None:
    """`pinmon check` proves the token works, lists accounts, and never prints credentials."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        f"""
[pinterest]
base_url = "{simulator}"
access_token = "${{PINMON_TEST_TOKEN}}"
[[routes]]
name = "slack"
apprise = ["slack://TokenAAAAAA/TokenBBBBBB/TokenCCCCCCCC/#ads-alerts"]
"""
    )
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"account:   {ACCOUNT} Acme Home & Living" in out.stdout
    assert "token:     ok" in out.stdout
    for secret in (TOKEN, "TokenBBBBBB", "TokenCCCCCCCC"):
        assert secret not in out.stdout + out.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env={**_env(), "PINMON_TEST_TOKEN": "wrong-token-123"},
        timeout=60,
    )
    assert bad.returncode == 1
    assert "token:     FAILED" in bad.stdout
