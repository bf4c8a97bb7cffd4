"""Secrets masked exactly: no secret in any output, and every target's exact label in all of them.

A dozen different secrets are planted in one config and pinmon is run the way an operator
runs it: `check`, `run --once` (DEBUG, JSON and console logs), one cycle in-process with
/metrics scraped over loopback, then `deliveries`, `status`, `events` and `notify-test`.
Each output is searched for every secret (none may appear) and for each target's masked
label (each must appear exactly as built, and the four labels must differ).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import logs
from monitor.config import load_config
from monitor.daemon import open_runtime
from monitor.redact import mask_url
from monitor.simulator import Simulator
from tests.harness import ACCOUNT, ADS, small_scenario
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]

TESTS = Path(__file__).resolve().parent
PG_URL = os.environ.get("PINMON_TEST_POSTGRES")

ACCESS_TOKEN = "pina_Acc3ssTok3n-Qw7Er9Ty"
CLIENT_SECRET = "cs-Zq81PLmXXk2v9Hn"
REFRESH = "pinr_Y7w3TtUo0aQpLm5e"
PG_PASSWORD = "Pg-Pa55-Xc4Vb8Nm"
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")
WEBHOOK_PATH_TOKEN = "hk-Qa7Ws2Ed4Rf9"
WEBHOOK_QUERY_TOKEN = "tq-Zx8Cv5Bn1Ml3"
WHSEC_OLD = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtb2xkLTEyMzQ="
WHSEC_NEW = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtbmV3LTU2Nzg="
JSON_PASSWORD = "pw-Hk4Rr9sQeW2c"
DISCORD_ID = "417421629812345678"
DISCORD_TOKEN = "JHMHI8qBe7bk2ZwO5U711o3dV_jsKf0"

#: Planted in the config; the rotated tokens the simulator issues are added as they appear.
PLANTED = [
    ACCESS_TOKEN,
    CLIENT_SECRET,
    REFRESH,
    *SLACK_TOKENS,
    WEBHOOK_PATH_TOKEN,
    WEBHOOK_QUERY_TOKEN,
    WHSEC_OLD,
    WHSEC_OLD.removeprefix("whsec_"),
    WHSEC_NEW,
    WHSEC_NEW.removeprefix("whsec_"),
    JSON_PASSWORD,
    DISCORD_ID,
    DISCORD_TOKEN,
]


def scenario() -> dict[str, Any]:
    s = small_scenario()
    s["auth"] = {
        "access_tokens": [ACCESS_TOKEN],
        "refresh_tokens": [REFRESH],
        "client_id": "cid-1",
        "client_secret": CLIENT_SECRET,
    }
    return s


class Targets:
    """The four targets of the route, their URLs on the sink and the labels they must get."""

    def __init__(self, sink: HttpSink) -> None:
        port = sink.port
        self.slack = "slack://{}/{}/{}/#ads-alerts".format(*SLACK_TOKENS)
        self.discord = f"discord://{DISCORD_ID}/{DISCORD_TOKEN}"
        self.json = f"json://alice:{JSON_PASSWORD}@127.0.0.1:{port}/alerts"
        self.webhook = (
            f"http://127.0.0.1:{port}/in/{WEBHOOK_PATH_TOKEN}?token={WEBHOOK_QUERY_TOKEN}"
        )
        self.labels = {
            "slack": "slack://T...2/A...D/T...Q/#ads-alerts",
            "discord": "discord://4...8/J...0",
            "json": f"json://alice:****@127.0.0.1:{port}/alerts",
            "webhook": f"http://127.0.0.1:{port}/in/****?token=****",
        }


def config_text(sim: Simulator, targets: Targets, state: str) -> str:
    return f"""
[pinterest]
base_url = "{sim.base_url}"
access_token = "{ACCESS_TOKEN}"
client_id = "cid-1"
client_secret = "{CLIENT_SECRET}"
refresh_token = "{REFRESH}"
ad_accounts = ["{ACCOUNT}"]
retries = 1

[monitor]
state = "{state}"
listen = "127.0.0.1:0"

[[routes]]
name = "ops"
group_wait = "0s"
apprise = ["{targets.slack}", "{targets.discord}", "{targets.json}"]
webhooks = [{{ url = "{targets.webhook}", secret = ["{WHSEC_OLD}", "{WHSEC_NEW}"] }}]
"""


@contextmanager
def state_url(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A PostgreSQL URL with a password in it (trust auth ignores it) in a schema of its
    own when ``PINMON_TEST_POSTGRES`` is set, else a SQLite file; and its secrets."""
    if PG_URL is None:
        yield str(tmp_path / "state.db"), []
        return
    from tests.test_store import pg_schema, schema_for

    with pg_schema(schema_for(tmp_path)) as url:
        parts = urlsplit(url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user or 'postgres'}:{PG_PASSWORD}@{host}"
        yield urlunsplit(parts._replace(netloc=netloc)), [PG_PASSWORD]


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[tuple[Simulator, HttpSink, Targets, Path, str]]:
    """The simulator, the sink (the json:// target refuses with 500), and the config."""
    with state_url(tmp_path) as (state, _):
        async with Simulator(scenario=scenario()) as sim, HttpSink() as sink:
            sink.respond("/alerts", status=500, body=b"refused")
            targets = Targets(sink)
            config = tmp_path / "pinmon.toml"
            config.write_text(config_text(sim, targets, state))
            yield sim, sink, targets, config, state


async def cli(config: Path, *args: str, sink: HttpSink | None = None) -> str:
    """Run `pinmon ARGS -c CONFIG` as a process; with ``sink``, Slack and Discord send there."""
    launcher = [str(TESTS / "apprise_to_sink.py"), sink.url("/")] if sink else ["-m", "monitor"]
    done = await anyio.run_process(
        [sys.executable, *launcher, *args, "-c", str(config)], check=False, cwd=config.parent
    )
    return done.stdout.decode() + done.stderr.decode()


async def one_cycle_in_process(
    config: Path, sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """One cycle and its deliveries in this process, logs at DEBUG, /metrics scraped."""
    from apprise.plugins.discord import NotifyDiscord
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", sink.url("/services"))
    monkeypatch.setattr(NotifyDiscord, "notify_url", sink.url("/discord"))
    out = io.StringIO()
    logs.configure(level="debug", fmt="json", stream=out)
    async with open_runtime(load_config(config)) as rt:
        await rt.poller.run_cycle()
        await rt.deliverer.drain()
        (listening,) = [
            line
            for line in map(json.loads, out.getvalue().splitlines())
            if line["event"] == "health.listening"
        ]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{listening['port']}/metrics"
            async with session.get(url) as response:
                metrics = await response.text()
    return out.getvalue(), metrics


def issued(sim: Simulator) -> set[str]:
    """Every token the simulator has valid or expired now (rotated ones included)."""
    return set(sim.tokens.access) | set(sim.tokens.refresh)


def delivery_targets(log_text: str) -> dict[str, set[str]]:
    """The target of each delivery.sent / delivery.failed JSON log line, by event."""
    found: dict[str, set[str]] = {"delivery.sent": set(), "delivery.failed": set()}
    for line in log_text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["event"] in found:
                found[record["event"]].add(record["target"])
    return found


async def test_a_dozen_secrets_never_show_and_every_label_shows_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across the CLI, DEBUG logs and /metrics no secret appears, and each target appears by
    its exact masked label: four targets, four distinct labels, none masked twice."""
    async with world(tmp_path) as (sim, sink, targets, config, state):
        labels = targets.labels
        secrets = set(PLANTED) | ({PG_PASSWORD} if PG_URL else set())
        check = await cli(config, "check", "--log-level", "debug")
        assert "token:     ok" in check
        assert f"state:     {mask_url(state) if PG_URL else state}" in check
        route = ", ".join(labels[k] for k in ("slack", "discord", "json", "webhook"))
        assert f"route:     ops: * -> {route}" in check
        baseline = await cli(
            config, "run", "--once", "--log-level", "debug", "--log-format", "json", sink=sink
        )
        # A rejection to deliver, and an expired token: the cycle must rotate it (OAuth).
        sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        sim.tokens.expire_access_tokens()
        before = issued(sim)
        in_process, metrics = await one_cycle_in_process(config, sink, monkeypatch)
        rotated = issued(sim) - before
        assert len(rotated) == 2, "the in-process cycle refreshed and got a new token pair"
        sim.world.pause(ADS[1])
        sim.tokens.expire_access_tokens()
        before = issued(sim)
        console = await cli(
            config, "run", "--once", "--log-level", "debug", "--log-format", "console", sink=sink
        )
        assert len(issued(sim) - before) == 2, "the second run rotated the tokens again"
        secrets |= issued(sim) - {ACCESS_TOKEN, REFRESH}
        listing = await cli(config, "deliveries", "--all")
        listing_json = await cli(config, "deliveries", "--all", "--json")
        status = await cli(config, "status")
        status_json = await cli(config, "status", "--json")
        events = await cli(config, "events", "--json")
        notify_test = await cli(config, "notify-test", sink=sink)
        assert len(sink.on("/services/{}/{}/{}".format(*SLACK_TOKENS))) == 3, (
            "Slack really got them"
        )
        assert len(sink.on(f"/discord/{DISCORD_ID}/{DISCORD_TOKEN}")) == 3
        assert len(sink.on(f"/in/{WEBHOOK_PATH_TOKEN}")) >= 3
    outputs = {
        "check": check,
        "run --once (json)": baseline,
        "in-process logs": in_process,
        "/metrics": metrics,
        "run --once (console)": console,
        "deliveries": listing,
        "deliveries --json": listing_json,
        "status": status,
        "status --json": status_json,
        "events --json": events,
        "notify-test": notify_test,
    }
    # No secret anywhere.
    leaks = {name: sorted(s for s in secrets if s in text) for name, text in outputs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    # Every label, exactly: four distinct ones, each where its target is named.
    assert len(set(labels.values())) == 4
    assert delivery_targets(in_process) == {
        "delivery.sent": {labels["slack"], labels["discord"], labels["webhook"]},
        "delivery.failed": {labels["json"]},
    }
    for label in labels.values():
        assert label in console, label
        assert label in listing, label
        assert f"ops: {label}: " in notify_test
    exported = {
        dict(s.labels)["target"]
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "pinmon_deliveries_total"
    }
    assert exported == set(labels.values())
    rows = [json.loads(line) for line in listing_json.splitlines()]
    assert {row["target_label"] for row in rows} == set(labels.values())
    assert all(row["target"] != row["target_label"] for row in rows), "keys stay keys"
    oldest = json.loads(status_json)["deliveries"]["oldest_pending"]
    assert oldest["target_label"] == labels["json"], "the refusing target is still pending"
    assert f"oldest pending ad.rejected to {labels['json']} queued" in status
    # One mask, "****", and nothing masked that is not a secret.
    for name, text in outputs.items():
        assert "***" not in text.replace("****", ""), name
    assert "#ads-alerts" in listing
    assert "127.0.0.1" in listing


async def test_a_database_password_stays_out_of_check_status_and_errors(tmp_path: Path) -> None:
    """With PostgreSQL unreachable, `check`, `status` and `deliveries` fail without the password,
    and `check` shows the state URL masked."""
    state = f"postgresql://pinmon:{PG_PASSWORD}@127.0.0.1:9/pinmon?sslmode=require"
    async with Simulator(scenario=small_scenario()) as sim:
        config = tmp_path / "pinmon.toml"
        config.write_text(
            f'[pinterest]\nbase_url = "{sim.base_url}"\naccess_token = "{ACCESS_TOKEN}"\n'
            f'[monitor]\nstate = "{state}"\n'
            '[[routes]]\nname = "ops"\napprise = ["json://127.0.0.1:9/alerts"]\n'
        )
        check = await cli(config, "check", "--log-level", "debug")
        status = await cli(config, "status")
        listing = await cli(config, "deliveries")
    assert "state:     postgresql://pinmon:****@127.0.0.1:9/pinmon?sslmode=require" in check
    for text in (check, status, listing):
        assert PG_PASSWORD not in text
        assert "postgresql://pinmon@127.0.0.1:9/pinmon" in text  # the error names the database
        assert "Traceback" not in text


async def test_a_refused_refresh_prints_neither_client_secret(tmp_path: Path) -> None:
    """A wrong client secret makes the refresh fail; no log line or error quotes either secret."""
    wrong = "cs-WRONG-Aa11Bb22"
    async with Simulator(scenario=scenario()) as sim:
        sim.tokens.expire_access_tokens()
        config = tmp_path / "pinmon.toml"
        config.write_text(
            f'[pinterest]\nbase_url = "{sim.base_url}"\nclient_id = "cid-1"\n'
            f'client_secret = "{wrong}"\nrefresh_token = "{REFRESH}"\nretries = 1\n'
            '[monitor]\nstate = "state.db"\n'
            '[[routes]]\nname = "ops"\napprise = ["json://127.0.0.1:9/alerts"]\n'
        )
        refused = await cli(config, "run", "--once", "--log-level", "debug")
    assert "auth" in refused.lower()
    assert [s for s in (wrong, CLIENT_SECRET, REFRESH) if s in refused] == []
