"""Scenarios: loading and its errors, every step kind, the timeline, admin, the process mode."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.errors import ConfigError
from monitor.simulator import (
    ManualClock,
    Scenario,
    Simulator,
    Step,
    StepError,
    World,
    builtin_scenario,
    builtin_scenarios,
    load_scenario,
    ready_line,
)
from monitor.simulator.steps import Selector

pytestmark = pytest.mark.anyio

ACME = "549755885175"
NORTHWIND = "549755885176"
CAROUSEL = "687195134316"  # APPROVED, ACTIVE
VIDEO = "687195134318"  # PENDING
AUTH = {"Authorization": "Bearer demo-token"}


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when a test says so."""
    return ManualClock()


def quiet_demo() -> Scenario:
    """The demo accounts without their timeline, so listing twice changes nothing."""
    return replace(load_scenario(builtin_scenario("demo")), timeline=())


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    """The demo accounts (no timeline) on an ephemeral loopback port."""
    async with Simulator(scenario=quiet_demo(), now=clock) as s:
        yield s


async def list_ads(sim: Simulator, account: str = ACME, **params: str) -> dict[str, Any]:
    """The first page of an account's ads (all statuses), by id."""
    params.setdefault("entity_statuses", "ACTIVE,PAUSED,ARCHIVED")
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.get(f"{sim.base_url}/ad_accounts/{account}/ads", params=params) as resp,
    ):
        assert resp.status == 200
        return {a["id"]: a for a in (await resp.json())["items"]}


# -- step kinds ---------------------------------------------------------------------------


async def test_reject_sets_reasons_and_labels(sim: Simulator, clock: ManualClock) -> None:
    """reject makes an ad REJECTED with the given reasons; labels default to human text."""
    before = sim.world.ad(CAROUSEL).updated_time
    clock.advance(60)
    sim.apply({"action": "reject", "ads": CAROUSEL, "reasons": ["LANDING_PAGE_BROKEN", "OTHER"]})
    ad = (await list_ads(sim))[CAROUSEL]
    assert (ad["status"], ad["review_status"], ad["summary_status"]) == (
        "ACTIVE",
        "REJECTED",
        "REJECTED",
    )
    assert ad["rejected_reasons"] == ["LANDING_PAGE_BROKEN", "OTHER"]
    assert ad["rejection_labels"] == ["Landing page is broken or returns an error", "Other"]
    assert ad["updated_time"] == int(clock()) > before


async def test_approve_and_pending(sim: Simulator) -> None:
    """approve clears a rejection; pending sends an ad back to review."""
    sim.apply(
        {"action": "reject", "ads": [CAROUSEL], "reasons": ["HASHTAGS"], "labels": ["Too many #"]}
    )
    sim.apply({"action": "approve", "ads": [CAROUSEL, VIDEO]})
    ads = await list_ads(sim)
    for ad_id in (CAROUSEL, VIDEO):
        assert ads[ad_id]["summary_status"] == "APPROVED"
        assert ads[ad_id]["rejected_reasons"] == ads[ad_id]["rejection_labels"] == []
    sim.apply({"action": "pending", "ads": CAROUSEL})
    assert (await list_ads(sim))[CAROUSEL]["review_status"] == "PENDING"


async def test_pause_activate_archive_any_kind(sim: Simulator) -> None:
    """pause, activate and archive apply to ads, ad groups and campaigns, summary following."""
    sim.apply(
        {
            "action": "pause",
            "campaigns": "626735565838",
            "ad_groups": "2680059592705",
            "ads": CAROUSEL,
        }
    )
    assert sim.world.campaigns["626735565838"].summary_status == "PAUSED"
    assert sim.world.ad_groups["2680059592705"].summary_status == "PAUSED"
    assert (await list_ads(sim))[CAROUSEL]["summary_status"] == "PAUSED"
    sim.apply({"action": "activate", "campaigns": "626735565838"})
    assert sim.world.campaigns["626735565838"].summary_status == "RUNNING"
    sim.apply({"action": "archive", "ads": CAROUSEL})
    assert CAROUSEL not in await list_ads(sim, entity_statuses="ACTIVE,PAUSED")
    assert (await list_ads(sim))[CAROUSEL]["summary_status"] == "ARCHIVED"


async def test_delete_pin_rename_update(sim: Simulator) -> None:
    """delete_pin, rename (with {name}) and update change exactly their fields."""
    sim.apply({"action": "delete_pin", "ads": CAROUSEL})
    sim.apply({"action": "rename", "ads": CAROUSEL, "name": "{name} (v2)"})
    sim.apply(
        {"action": "update", "ads": VIDEO, "fields": {"destination_url": "https://x.example/"}}
    )
    ads = await list_ads(sim)
    assert ads[CAROUSEL]["is_pin_deleted"] is True
    assert ads[CAROUSEL]["name"] == "Holiday Sale — Carousel (v2)"
    assert ads[VIDEO]["destination_url"] == "https://x.example/"


async def test_bump_updated_time_false_keeps_the_stamp(sim: Simulator, clock: ManualClock) -> None:
    """With bump_updated_time = false a review decision leaves updated_time alone."""
    before = sim.world.ad(VIDEO).updated_time
    clock.advance(3600)
    sim.apply({"action": "approve", "ads": VIDEO, "bump_updated_time": False})
    ad = (await list_ads(sim))[VIDEO]
    assert (ad["review_status"], ad["updated_time"]) == ("APPROVED", before)


async def test_create_and_remove(sim: Simulator, clock: ManualClock) -> None:
    """create adds pending ads with fresh higher ids; remove makes entities vanish."""
    created = sim.apply(
        {"action": "create", "ad_group": "2680059592705", "count": 2, "name": "New #{n}"}
    )
    ads = await list_ads(sim)
    assert [ads[i]["name"] for i in created] == ["New #1", "New #2"]
    assert all(ads[i]["review_status"] == "PENDING" for i in created)
    assert all(ads[i]["created_time"] == int(clock()) for i in created)
    assert min(int(i) for i in created) > max(int(i) for i in ads if i not in created)
    sim.apply({"action": "remove", "ad_groups": "2680059592705"})
    remaining = await list_ads(sim)
    assert CAROUSEL not in remaining
    assert not set(created) & set(remaining)


async def test_reject_forty_at_once(clock: ManualClock) -> None:
    """A step can reject the first 40 ads of an account at once."""
    scenario = {"accounts": [{"id": "1", "name": "Big", "generate": {"ads": 300}}]}
    async with Simulator(scenario=scenario, now=clock) as sim:
        changed = sim.apply(
            {"action": "reject", "account": "1", "ads": "first:40", "reasons": ["URGENCY"]}
        )
        assert len(changed) == 40
        rejected = [a for a in sim.world.ads.values() if a.review_status == "REJECTED"]
        assert sorted(a.id for a in rejected) == changed
        last = sim.apply({"action": "pause", "ads": "last:2"})
        assert last == [str(i) for i in sim.world.ids_of("1", "ads")[-2:]]


async def test_where_filters_selected_ads(sim: Simulator) -> None:
    """``where`` narrows a selection by field values."""
    changed = sim.apply({"action": "approve", "ads": "all", "where": {"review_status": "PENDING"}})
    assert changed == [VIDEO]


async def test_fault_and_token_steps(sim: Simulator) -> None:
    """add_fault, clear_faults and expire_tokens steps act on faults and tokens."""
    sim.apply({"action": "add_fault", "fault": {"kind": "status_500", "path": "/v5/*", "times": 1}})
    assert [f.kind.value for f in sim.faults.armed] == ["status_500"]
    sim.apply({"action": "clear_faults"})
    assert sim.faults.armed == []
    sim.apply({"action": "expire_tokens"})
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.get(sim.base_url + "/ad_accounts") as r,
    ):
        assert r.status == 401


async def test_step_on_missing_entity_fails_cleanly(sim: Simulator) -> None:
    """A step naming an unknown id raises StepError and changes nothing."""
    version = sim.world.version
    with pytest.raises(StepError, match="999"):
        sim.apply({"action": "pause", "ads": ["999"]})
    assert sim.world.version == version


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ({"action": "explode"}, "action"),
        ({"action": "reject", "ads": CAROUSEL}, "reasons"),
        ({"action": "reject", "ads": CAROUSEL, "reasons": ["NOPE"]}, "NOPE"),
        ({"action": "approve", "campaigns": "1"}, "ads only"),
        ({"action": "pause"}, "needs ads"),
        ({"action": "pause", "ads": "first:x"}, "first:N"),
        ({"action": "pause", "ads": CAROUSEL, "at_cycle": 2, "after_s": 3}, "not both"),
        ({"action": "update", "ads": CAROUSEL, "fields": {"status": "GONE"}}, "GONE"),
        ({"action": "update", "ads": CAROUSEL, "fields": {"colour": "red"}}, "colour"),
        ({"action": "pause", "ads": CAROUSEL, "colour": "red"}, "unknown key"),
    ],
)
def test_invalid_steps_are_config_errors(step: dict[str, Any], fragment: str) -> None:
    """Malformed steps are refused with a line naming the key and the reason."""
    sim = Simulator(scenario=quiet_demo(), now=ManualClock())
    with pytest.raises(ConfigError) as info:
        sim.apply(step)
    assert fragment in str(info.value)


# -- timeline -----------------------------------------------------------------------------


async def test_at_cycle_and_after_s_steps_fire(clock: ManualClock) -> None:
    """at_cycle steps fire as cycles start; after_s steps once that much injected time passed."""
    world = World.from_scenario(builtin_scenario("demo"))
    async with Simulator(world=world, now=clock) as sim:
        sim.apply({"action": "pause", "ads": VIDEO, "after_s": 30})
        await list_ads(sim)
        assert sim.cycle == 1
        assert sim.world.ad(CAROUSEL).review_status == "APPROVED"
        ads = await list_ads(sim)  # the same listing again: cycle 2, the carousel is rejected
        assert sim.cycle == 2
        assert ads[CAROUSEL]["review_status"] == "REJECTED"
        assert ads[VIDEO]["status"] == "ACTIVE"
        clock.advance(30)
        assert (await list_ads(sim))[VIDEO]["status"] == "PAUSED"


async def test_demo_story_finishes_within_five_cycles(clock: ManualClock) -> None:
    """The demo rejects at 2, pauses and approves at 3, creates at 4, approves it at 5."""
    async with Simulator(scenario=builtin_scenario("demo"), now=clock) as sim:
        seen = await _story(sim)
    assert seen == [
        ("APPROVED", "APPROVED", "PENDING", None),
        ("REJECTED", "APPROVED", "PENDING", None),
        ("REJECTED", "PAUSED", "APPROVED", None),
        ("REJECTED", "PAUSED", "APPROVED", "PENDING"),
        ("REJECTED", "PAUSED", "APPROVED", "APPROVED"),
        ("REJECTED", "PAUSED", "APPROVED", "APPROVED"),
    ]


async def _story(sim: Simulator) -> list[tuple[Any, ...]]:
    seen = []
    for _ in range(6):
        acme, northwind = await list_ads(sim, ACME), await list_ads(sim, NORTHWIND)
        seen.append(
            (
                acme[CAROUSEL]["summary_status"],
                acme["687195134319"]["summary_status"],
                acme[VIDEO]["summary_status"],
                northwind.get("687195134330", {}).get("summary_status"),
            )
        )
    assert sim.timeline.pending == []
    return seen


# -- admin endpoints ----------------------------------------------------------------------


async def test_admin_endpoints(sim: Simulator) -> None:
    """/_sim drives the simulator: steps, faults, cycle, state, requests, tokens, reset."""
    async with aiohttp.ClientSession() as http:
        origin = sim.origin

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            async with http.request(method, origin + path, json=body) as r:
                return r.status, await r.json()

        assert await call("GET", "/_sim/cycle") == (200, {"cycle": 0})
        assert await call("POST", "/_sim/cycle") == (200, {"cycle": 1})
        status, body = await call("POST", "/_sim/steps", {"action": "pause", "ads": CAROUSEL})
        assert (status, body["changed"]) == (200, [CAROUSEL])
        status, body = await call(
            "POST", "/_sim/steps", [{"action": "archive", "ads": VIDEO, "at_cycle": 9}]
        )
        assert (status, body["changed"]) == (200, [])
        status, body = await call("POST", "/_sim/steps", {"action": "pause", "ads": "x"})
        assert status == 400
        assert body["problems"]
        assert (await call("POST", "/_sim/steps", {"action": "pause", "ads": "42"}))[0] == 400
        status, armed = await call("POST", "/_sim/faults", {"kind": "status_500", "times": 1})
        assert (status, armed[0]["kind"]) == (200, "status_500")
        assert (await call("POST", "/_sim/faults", {"kind": "meteor"}))[0] == 400
        status, tokens = await call("POST", "/_sim/tokens")
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with http.get(sim.base_url + "/ad_accounts", headers=headers) as r:
            assert r.status == 500  # the fault armed above
        status, state = await call("GET", "/_sim/state")
        assert state["cycle"] == 1
        assert state["faults"][0]["fired"] == 1
        assert any("archive" in s for s in state["pending_steps"])
        assert state["accounts"][ACME]["ads"] == 6
        status, log = await call("GET", "/_sim/requests")
        assert [(r["path"], r["status"], r["fault"]) for r in log] == [
            ("/v5/ad_accounts", 500, "status_500")
        ]
        assert (await call("DELETE", "/_sim/faults")) == (200, {"faults": []})
        status, ids = await call("GET", f"/_sim/ids?kind=ads&account={NORTHWIND}")
        assert ids == {"ids": ["687195134322", "687195134323"]}
        assert (await call("GET", "/_sim/ids?kind=pins"))[0] == 400
        status, state = await call("POST", "/_sim/reset")
        assert (state["cycle"], state["requests"], state["faults"]) == (0, 0, [])
        assert sim.world.ad(CAROUSEL).status == "ACTIVE"


async def test_reset_restores_the_scenario(sim: Simulator) -> None:
    """reset brings back the initial world, and cached pages do not leak the old one."""
    await list_ads(sim)
    sim.world.reject_ad(CAROUSEL, reasons=["OTHER"])
    assert (await list_ads(sim))[CAROUSEL]["review_status"] == "REJECTED"
    sim.reset()
    assert (await list_ads(sim))[CAROUSEL]["review_status"] == "APPROVED"


# -- scenario files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "large", "fault-storm", "reviews"])
def test_shipped_scenarios_load(name: str) -> None:
    """Every scenario shipped as package data loads into a world."""
    assert name in builtin_scenarios()
    world = World.from_scenario(builtin_scenario(name))
    assert world.accounts
    assert world.ads
    if name == "large":
        assert len(world.ads) == 50_000


def test_unknown_builtin_scenario() -> None:
    """Asking for a scenario that is not shipped names the ones that are."""
    with pytest.raises(ConfigError, match="demo"):
        builtin_scenario("nope")


BAD_SCENARIOS = [
    ("accounts = [", "invalid TOML"),
    ('[[accounts]]\nid = "abc"', "accounts[0].id: expected a digit string id"),
    ('colour = "red"\n[[accounts]]\nname = "A"', "colour: unknown key"),
    (
        '[[accounts]]\n[[accounts.campaigns]]\nstatus = "LIVE"',
        "accounts[0].campaigns[0].status: 'LIVE'",
    ),
    (
        "[[accounts]]\n[[accounts.campaigns]]\n[[accounts.campaigns.ad_groups]]\n"
        '[[accounts.campaigns.ad_groups.ads]]\ncreated_time = "yesterday"',
        "accounts[0].campaigns[0].ad_groups[0].ads[0].created_time: Expected `int`",
    ),
    ('[[accounts]]\nid = "1"\n[[accounts]]\nid = "1"', "accounts[1].id: id 1 is already used"),
    ("[[accounts]]\ngenerate = { campaigns = 2 }", "accounts[0].generate.ads: required"),
    ('[[accounts]]\n[[timeline]]\naction = "reject"\nads = "1"', "timeline[0].reasons: required"),
    ('[[accounts]]\n[[faults]]\nkind = "meteor"', "faults[0].kind: 'meteor' is not one of"),
    ("[[accounts]]\n[rate_limit]\nwindow_s = 0", "rate_limit.window_s: must be positive"),
    (
        '[[accounts]]\n[[timeline]]\naction = "pause"\nads = "123"',
        "timeline[0].ads: no ads with id(s) 123",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SCENARIOS)
def test_scenario_errors_name_file_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    """A broken scenario file raises ConfigError lines naming the file, the key and the reason."""
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        World.from_scenario(path)
    lines = info.value.problems
    assert any(line.startswith(f"{path}: ") and expected in line for line in lines), lines


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    """Every problem in a file is reported, not just the first."""
    path = tmp_path / "many.toml"
    path.write_text('x = 1\n[[accounts]]\nid = "a"\ncurrency = 5\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert len(info.value.problems) == 3


def test_missing_scenario_file(tmp_path: Path) -> None:
    """A scenario path that does not exist is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.toml")


# -- separate process ---------------------------------------------------------------------


def test_standalone_process_serves_until_terminated() -> None:
    """``python -m monitor.simulator`` prints its base URL, serves, and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.simulator", "--port", "0", "--scenario", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")
        assert line.startswith('pinmon simulator listening: base_url = "http://127.0.0.1:')
        base_url = line.split('"')[1]
        assert line == ready_line(base_url)
        request = urllib.request.Request(base_url + "/ad_accounts", headers=AUTH)
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert len(json.load(resp)["items"]) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_standalone_rejects_a_bad_scenario(tmp_path: Path) -> None:
    """A broken scenario file makes the process exit 2 with the problem lines on stderr."""
    path = tmp_path / "broken.toml"
    path.write_text("[[accounts]]\nid = 'x'\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "monitor.simulator", "--port", "0", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"{path}: accounts[0].id" in done.stderr
    assert "Traceback" not in done.stderr


async def test_untriggered_scenario_step_fires_at_start(clock: ManualClock) -> None:
    """A timeline step with neither at_cycle nor after_s applies before the first answer."""
    scenario = replace(
        quiet_demo(),
        timeline=(Step(action="pause", targets={"ads": Selector(ids=(CAROUSEL,))}),),
    )
    async with Simulator(scenario=scenario, now=clock) as sim:
        assert (await list_ads(sim))[CAROUSEL]["status"] == "PAUSED"
