"""Resilient polling against the simulator: OAuth rotation, failing accounts, monitor.* events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.daemon import EXIT_OK, EXIT_POLL_FAILED, run_once
from monitor.simulator import Simulator
from monitor.store.sqlite import open_store
from tests.harness import ACCOUNT, ADS, TOKEN, rig, small_scenario
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CLIENT_ID, CLIENT_SECRET, REFRESH = "client-1", "client-secret-abcdef", "refresh-original-123456"


def oauth_scenario(accounts: int = 1) -> dict[str, Any]:
    scenario = small_scenario()
    scenario["auth"] = {
        "access_tokens": [],
        "refresh_tokens": [REFRESH],
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    first = scenario["accounts"][0]
    for i in range(1, accounts):
        clone = {"id": str(int(ACCOUNT) + i), "name": f"Account {i}", "campaigns": []}
        scenario["accounts"].append(clone)
    assert first["id"] == ACCOUNT
    return scenario


def oauth_config(
    path: Path, sim: Simulator, sink: HttpSink, *, secret: str = CLIENT_SECRET
) -> Path:
    path.write_text(
        f"""
[pinterest]
base_url = "{sim.base_url}"
client_id = "{CLIENT_ID}"
client_secret = "{secret}"
refresh_token = "{REFRESH}"

[monitor]
state = "state.db"

[[routes]]
name = "ops"
events = ["monitor.*"]
apprise = ["{sink.url("/ops", scheme="json")}"]
"""
    )
    return path


def oauth_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/oauth/token"))


async def test_refresh_token_rotation_is_persisted_and_reused(tmp_path: Path) -> None:
    """The first run refreshes and persists the rotated token; the next run reuses it."""
    async with Simulator(scenario=oauth_scenario()) as sim, HttpSink() as sink:
        config = load_config(oauth_config(tmp_path / "pinmon.toml", sim, sink))
        assert await run_once(config) == EXIT_OK
        assert oauth_requests(sim) == 1
        store = await open_store(tmp_path / "state.db")
        try:
            saved = await store.credentials()
            rotated = saved.refresh_token if saved is not None else None
        finally:
            await store.close()
        assert rotated
        assert rotated != REFRESH
        # The configured refresh token is spent; only the persisted one works now.
        assert await run_once(config) == EXIT_OK
        assert oauth_requests(sim) == 1  # the persisted access token was still valid
        assert sink.requests == []


async def test_expired_token_refreshes_once_for_concurrent_accounts(tmp_path: Path) -> None:
    """When the access token expires, many concurrent requests cause one refresh, not many."""
    async with Simulator(scenario=oauth_scenario(accounts=6)) as sim, HttpSink() as sink:
        path = oauth_config(tmp_path / "pinmon.toml", sim, sink)
        path.write_text(path.read_text().replace("[monitor]", "[monitor]\nconcurrency = 6"))
        config = load_config(path)
        assert await run_once(config) == EXIT_OK
        sim.tokens.expire_access_tokens()
        assert await run_once(config) == EXIT_OK
        assert oauth_requests(sim) == 2
        assert any(r.status == 401 for r in sim.requests)


async def test_refused_refresh_emits_auth_failed_and_fails_the_cycle(tmp_path: Path) -> None:
    """A refresh Pinterest refuses becomes one monitor.auth_failed message, without secrets."""
    async with Simulator(scenario=oauth_scenario()) as sim, HttpSink() as sink:
        config = load_config(
            oauth_config(tmp_path / "pinmon.toml", sim, sink, secret="wrong-secret-999999")
        )
        assert await run_once(config) == EXIT_POLL_FAILED
        assert await run_once(config) == EXIT_POLL_FAILED
        messages = [r.json for r in sink.on("/ops")]
        assert len(messages) == 1
        assert "authenticate" in messages[0]["title"]
        text = str(messages)
        for secret in ("wrong-secret-999999", REFRESH):
            assert secret not in text


async def test_account_failing_then_recovered(tmp_path: Path) -> None:
    """Three failed cycles in a row send monitor.account_failing once; recovery says so once."""
    async with rig(tmp_path) as r:
        r.path.write_text(r.path.read_text().replace('events = ["*"]', 'events = ["monitor.*"]'))
        await run_once(r.config)
        r.sim.add_fault(kind="status_500", path="/v5/ad_accounts/*/ads")
        for _ in range(4):
            assert await run_once(r.config) == EXIT_POLL_FAILED
        titles = [m["title"] for m in r.messages()]
        assert len(titles) == 1
        assert f"cannot poll ad account {ACCOUNT}" in titles[0]
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        assert await run_once(r.config) == EXIT_OK
        titles = [m["title"] for m in r.messages()]
        assert len(titles) == 2
        assert f"polls ad account {ACCOUNT} again" in titles[1]


async def test_access_lost_is_reported_and_other_accounts_proceed(tmp_path: Path) -> None:
    """A 403 on one account sends monitor.account_access_lost; the others' changes still arrive."""
    scenario = small_scenario()
    other = str(int(ACCOUNT) + 1)
    scenario["accounts"].append(
        {
            "id": other,
            "name": "Other",
            "campaigns": [
                {
                    "id": "626735565900",
                    "ad_groups": [
                        {"id": "2680059592900", "ads": [{"id": "687195139999", "name": "Other Ad"}]}
                    ],
                }
            ],
        }
    )
    async with rig(tmp_path, scenario) as r:
        r.path.write_text(
            r.path.read_text().replace(
                f'ad_accounts = ["{ACCOUNT}"]', f'ad_accounts = ["{ACCOUNT}", "{other}"]'
            )
        )
        await run_once(r.config)
        r.sim.apply({"action": "revoke_access", "account": ACCOUNT})
        r.sim.world.reject_ad("687195139999", reasons=["HASHTAGS"])
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_POLL_FAILED
        titles = [m["title"] for m in r.messages()]
        assert any("lost access to ad account" in t for t in titles), titles
        assert any("Other Ad" in t for t in titles), titles
        assert not any("Holiday Ad 0" in t for t in titles)
        assert TOKEN not in str(r.messages())
