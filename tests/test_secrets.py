"""No secret in any output: full cycles at DEBUG, a refused refresh, failing targets, every CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from monitor.simulator import Simulator
from tests.harness import ADS, small_scenario
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

CLIENT_SECRET = "cs-Zq81PLmXXk2v9Hn"
REFRESH = "rt-Y7w3TtUo0aQpLm5e"
APPRISE_PASSWORD = "pw-Hk4Rr9sQeW2c"
APPRISE_TOKEN = "tk-Bn6Vx1Zs8Lp3"
WEBHOOK_SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="
WEBHOOK_PATH_TOKEN = "hook-Qa7Ws2Ed4Rf"
SECRETS = [
    CLIENT_SECRET,
    REFRESH,
    APPRISE_PASSWORD,
    APPRISE_TOKEN,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET.removeprefix("whsec_"),
    WEBHOOK_PATH_TOKEN,
]


def scenario() -> dict[str, object]:
    s = small_scenario()
    s["auth"] = {
        "access_tokens": [],
        "refresh_tokens": [REFRESH],
        "client_id": "cid-1",
        "client_secret": CLIENT_SECRET,
    }
    return s


def config_text(sim: Simulator, sink: HttpSink, *, client_secret: str) -> str:
    return f"""
[pinterest]
base_url = "{sim.base_url}"
client_id = "cid-1"
client_secret = "{client_secret}"
refresh_token = "{REFRESH}"
retries = 1

[monitor]
state = "state.db"

[[routes]]
name = "all"
group_wait = "0s"
apprise = ["json://alice:{APPRISE_PASSWORD}@127.0.0.1:{sink.port}/alerts?token={APPRISE_TOKEN}"]
webhooks = [{{ url = "http://127.0.0.1:{sink.port}/{WEBHOOK_PATH_TOKEN}/in", secret = "{WEBHOOK_SECRET}" }}]
"""


async def run(config: Path, *args: str) -> str:
    done = await anyio.run_process(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)], check=False
    )
    return done.stdout.decode() + done.stderr.decode()


async def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    """Every secret stays out of logs (DEBUG, JSON and console), errors and CLI output."""
    async with Simulator(scenario=scenario()) as sim, HttpSink() as sink:
        sink.respond("/alerts", status=500)
        sink.respond(f"/{WEBHOOK_PATH_TOKEN}/in", status=503)
        config = tmp_path / "pinmon.toml"
        config.write_text(config_text(sim, sink, client_secret=CLIENT_SECRET))
        outputs = [
            await run(config, "run", "--once", "--log-level", "debug", "--log-format", fmt)
            for fmt in ("json", "console")
        ]
        sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        outputs.append(await run(config, "run", "--once", "--log-level", "debug"))
        assert len(sink.on("/alerts")) >= 1, "the failing targets were really tried"
        outputs += [
            await run(config, "check", "--log-level", "debug"),
            await run(config, "deliveries"),
            await run(config, "events", "--json"),
            await run(config, "notify-test"),
        ]
        config.write_text(config_text(sim, sink, client_secret="cs-WRONG-Aa11Bb22"))
        sim.tokens.expire_access_tokens()
        refused = await run(config, "run", "--once", "--log-level", "debug")
        assert "auth" in refused.lower()
        outputs.append(refused)
    text = "\n".join(outputs)
    assert "delivery.failed" in text  # the failure paths ran and were logged
    leaked = [s for s in SECRETS if s in text]
    assert leaked == []
    assert "cs-WRONG-Aa11Bb22" not in refused
