"""Every scripted fault is observable through a real aiohttp client, and fires as scripted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from monitor.simulator import ManualClock, Scenario, Simulator, builtin_scenario, load_scenario

pytestmark = pytest.mark.anyio

ACME = "549755885175"
AUTH = {"Authorization": "Bearer demo-token"}
ADS = f"/ad_accounts/{ACME}/ads"


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


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def fetch(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, str, bytes]:
    """GET ``url``; return status, content type and raw body."""
    async with http.get(url, params=params) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_status_429_fires_n_times(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """status_429 answers the quota body with zero remaining ``times`` times, then lets go."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="status_429", times=2)
    for _ in range(2):
        async with http.get(sim.base_url + ADS) as resp:
            assert resp.status == 429
            assert await resp.json() == {"code": 8, "message": "Max rate limit exceeded"}
            assert resp.headers["x-ratelimit-remaining"] == "0"
    assert (await fetch(http, sim.base_url + ADS))[0] == 200
    assert [r.fault for r in sim.requests] == ["status_429", "status_429", None]


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("status_500", 500, 12), ("status_503", 503, 503)]
)
async def test_server_errors(
    sim: Simulator, http: aiohttp.ClientSession, kind: str, status: int, code: int
) -> None:
    """status_500 and status_503 answer JSON Error bodies (500 with Pinterest's code 12)."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind=kind, times=1)
    async with http.get(sim.base_url + ADS) as resp:
        assert resp.status == status
        body = await resp.json()
        assert body["code"] == code
        assert isinstance(body["message"], str)
        assert resp.headers["x-pinterest-rid"]


async def test_unlimited_fault_keeps_firing(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Without ``times`` a fault fires on every matching request until cleared."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="status_500")
    for _ in range(5):
        assert (await fetch(http, sim.base_url + ADS))[0] == 500
    sim.clear_faults()
    assert (await fetch(http, sim.base_url + ADS))[0] == 200


async def test_fault_matches_path_glob_and_method(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Only requests whose path matches the glob (and method, if given) are faulted."""
    sim.add_fault(path="/v5/ad_accounts/*/campaigns", kind="status_500")
    sim.add_fault(path="/v5/ad_accounts", kind="status_503", method="post")
    assert (await fetch(http, sim.base_url + ADS))[0] == 200
    assert (await fetch(http, sim.base_url + "/ad_accounts"))[0] == 200
    assert (await fetch(http, sim.base_url + f"/ad_accounts/{ACME}/campaigns"))[0] == 500


async def test_slow_delays_the_answer(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """slow holds the answer back for delay_s: a client with a shorter timeout gives up."""
    sim.add_fault(path="/v5/ad_accounts", kind="slow", delay_s=0.25, times=2)
    with pytest.raises(TimeoutError):
        await http.get(sim.base_url + "/ad_accounts", timeout=aiohttp.ClientTimeout(total=0.05))
    sim.faults.armed[0].delay_s = 0.05
    assert (await fetch(http, sim.base_url + "/ad_accounts"))[0] == 200


async def test_reset_drops_the_connection(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """reset closes the connection without an answer: the client sees a connection error."""
    # Two resets: aiohttp retries an idempotent request once on a dropped connection.
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="reset", times=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(http, sim.base_url + ADS)
    assert [r.status for r in sim.requests if r.fault == "reset"] == [0, 0]
    assert (await fetch(http, sim.base_url + ADS))[0] == 200


async def test_truncated_body_is_cut_short(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """truncated declares the full Content-Length but sends half: a payload error for the client."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="truncated", times=1)
    async with http.get(sim.base_url + ADS) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert (await fetch(http, sim.base_url + ADS))[0] == 200


@pytest.mark.parametrize("status", [502, 200])
async def test_html_error_page(sim: Simulator, http: aiohttp.ClientSession, status: int) -> None:
    """html answers a text/html page, with 502 or (a proxy's lie) 200."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="html", status=status, times=1)
    code, content_type, body = await fetch(http, sim.base_url + ADS)
    assert (code, content_type) == (status, "text/html")
    assert body.startswith(b"<!DOCTYPE html>")


async def test_repeat_bookmark_points_back(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """repeat_bookmark answers a page whose bookmark is the one it was given (or the first's)."""
    async with http.get(sim.base_url + ADS, params={"page_size": 2}) as resp:
        first = await resp.json()
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="repeat_bookmark", times=2)
    async with http.get(
        sim.base_url + ADS, params={"page_size": 2, "bookmark": first["bookmark"]}
    ) as r:
        page = await r.json()
    assert page["bookmark"] == first["bookmark"]
    assert [a["id"] for a in page["items"]] == ["687195134318", "687195134319"]
    async with http.get(sim.base_url + ADS, params={"page_size": 2}) as r:
        looping = await r.json()
    async with http.get(
        sim.base_url + ADS, params={"page_size": 2, "bookmark": looping["bookmark"]}
    ) as r:
        again = await r.json()
    assert again["items"] == looping["items"]


async def test_empty_page_loops(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """empty_page answers no items with a non-null bookmark that leads to the same empty page."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="empty_page", times=3)
    bookmark: str | None = None
    seen = []
    for _ in range(3):
        params: dict[str, str] = {"bookmark": bookmark} if bookmark else {}
        async with http.get(sim.base_url + ADS, params=params) as resp:
            page = await resp.json()
        assert page["items"] == []
        assert page["bookmark"] is not None
        bookmark = page["bookmark"]
        seen.append(bookmark)
    assert len(set(seen)) == 1


async def test_listing_faults_skip_other_requests(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Listing-only faults do not fire (or count) on single-entity requests."""
    fault = sim.add_fault(path="/v5/ad_accounts/*", kind="empty_page", times=1)
    assert (await fetch(http, sim.base_url + f"/ad_accounts/{ACME}"))[0] == 200
    assert fault.fired == 0


async def test_stale_serves_the_previous_version(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """stale serves changed ads as they were before, older updated_time and status included."""
    before = sim.world.ad("687195134316").updated_time
    clock.advance(600)
    sim.world.reject_ad("687195134316", reasons=["CLICKBAIT"])
    sim.add_fault(path=f"/v5/ad_accounts/{ACME}/ads*", kind="stale", times=2)
    async with http.get(sim.base_url + ADS) as resp:
        listed = {a["id"]: a for a in (await resp.json())["items"]}
    async with http.get(sim.base_url + ADS + "/687195134316") as resp:
        single = await resp.json()
    for ad in (listed["687195134316"], single):
        assert (ad["review_status"], ad["updated_time"]) == ("APPROVED", before)
    async with http.get(sim.base_url + ADS) as resp:
        fresh = {a["id"]: a for a in (await resp.json())["items"]}
    assert fresh["687195134316"]["review_status"] == "REJECTED"
    assert fresh["687195134316"]["updated_time"] > before


async def test_faults_from_the_fault_storm_scenario(clock: ManualClock) -> None:
    """The fault-storm scenario arms its faults from the start, each on its own account."""
    async with (
        Simulator(scenario=builtin_scenario("fault-storm"), now=clock) as sim,
        aiohttp.ClientSession(headers=AUTH) as http,
    ):
        base = sim.base_url + "/ad_accounts/549755885301/ads"
        assert [(await fetch(http, base))[0] for _ in range(3)] == [429, 429, 200]
        status, content_type, _ = await fetch(http, sim.base_url + "/ad_accounts/549755885303/ads")
        assert (status, content_type) == (502, "text/html")
        assert {f["kind"] for f in sim.state()["faults"]} >= {"status_429", "reset", "truncated"}


async def test_skip_lets_first_requests_through(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """With skip = 1 the first matching request passes: a listing breaks after its first page."""
    sim.add_fault(path="/v5/ad_accounts/*/ads", kind="status_500", skip=1, times=1)
    async with http.get(sim.base_url + ADS, params={"page_size": 2}) as resp:
        assert resp.status == 200
        bookmark = (await resp.json())["bookmark"]
    params = {"page_size": 2, "bookmark": bookmark}
    assert (await fetch(http, sim.base_url + ADS, **params))[0] == 500
    assert (await fetch(http, sim.base_url + ADS, **params))[0] == 200
