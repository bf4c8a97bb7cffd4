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


#: What a read-only command has no use for: the HTTP client, the notifiers, the metrics
#: server, the PostgreSQL driver (with a SQLite state). Importing them is most of the cost
#: of a command that should answer at once (issue #13).
HEAVY = ("aiohttp", "apprise", "prometheus_client", "psycopg")

_IMPORTS_OF = """
import json, sys
from monitor.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


async def test_read_only_commands_do_not_import_the_daemons_dependencies(tmp_path: Path) -> None:
    """status, events, deliveries and mutes answer from the state alone: a config with an
    apprise route does not load apprise, nor aiohttp, prometheus_client or psycopg."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[1], reasons=["LANDING_PAGE_BROKEN"])
        await run_once(r.config)
    assert "apprise" in r.path.read_text()  # the config names an apprise target
    script = f"HEAVY = {HEAVY!r}\n{_IMPORTS_OF}"
    commands = (
        (["status"], "Holiday Ad 1"),
        (["events"], "ad.rejected"),
        (["deliveries", "--all"], "ad.rejected"),
        (["mutes"], "no active mutes"),
    )
    for argv, shows in commands:
        done = _python(script, *argv, "-c", str(r.path))
        assert done.returncode == 0, done.stderr
        *output, last = done.stdout.splitlines()
        assert json.loads(last) == {"code": 0, "heavy": []}, argv
        assert shows in "\n".join(output), argv


#: Builds a daemon's notifiers in a process and reports which of the modules that only
#: some configs need it loaded.
_NOTIFIERS_OF = """
import json, sys
import monitor.daemon
from monitor.config import load_config
from monitor.wiring import build_notifiers
by_key, _ = build_notifiers(load_config(sys.argv[1]))
watched = ("slack_sdk", "monitor.notify.slack", "monitor.notify.plugins", "apprise", "zoneinfo",
           "difflib", "jinja2")
print(json.dumps({"kinds": sorted(type(n).__name__ for n in by_key.values()),
                  "loaded": [m for m in watched if m in sys.modules]}))
"""


def test_a_daemon_loads_only_the_notifier_kinds_its_routes_name(tmp_path: Path) -> None:
    """A config of webhooks alone, without a recap or a warning, does not import slack_sdk,
    the plugin loader (its entry-point scan), apprise, zoneinfo, difflib or jinja2: they
    cost a daemon's start-up ~75 ms (issue #13)."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        '[pinterest]\naccess_token = "t"\nad_accounts = ["549755885175"]\n'
        '[[routes]]\nname = "ops"\nevents = ["*"]\n'
        'webhooks = [{ url = "https://hooks.example/in", secret = '
        '"whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==" }]\n'
    )
    done = _python(_NOTIFIERS_OF, str(config))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"kinds": ["WebhookNotifier"], "loaded": []}
