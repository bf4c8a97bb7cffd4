"""The simulator's API behaves like Pinterest v5: pagination, parameters, auth, quotas, cycles."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from monitor.simulator import ManualClock, Scenario, Simulator, builtin_scenario, load_scenario

pytestmark = pytest.mark.anyio

ACME = "549755885175"  # demo account: 6 ads, one of them archived
NORTHWIND = "549755885176"
ARCHIVED_AD = "687195134321"
AUTH = {"Authorization": "Bearer demo-token"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()}


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
    async with Simulator(scenario=quiet_demo(), now=clock, token_lifetime_s=3600) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client."""
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession,
    url: str,
    params: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    """GET ``url``; return status, JSON body and headers."""
    async with http.get(url, params=params, headers=AUTH if headers is None else headers) as r:
        return r.status, await r.json(), r.headers


async def walk(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[list[str], list[Any]]:
    """Follow bookmarks to the end; return the ids seen and every bookmark returned."""
    ids: list[str] = []
    bookmarks: list[Any] = []
    while True:
        status, body, _ = await get(http, url, params)
        assert status == 200, body
        ids += [item["id"] for item in body["items"]]
        bookmarks.append(body["bookmark"])
        if body["bookmark"] is None:
            return ids, bookmarks
        params["bookmark"] = body["bookmark"]


async def test_pagination_follows_opaque_bookmarks_to_null(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Pages chain through non-numeric bookmarks and the last page says ``bookmark: null``."""
    ids, bookmarks = await walk(http, f"{sim.base_url}/ad_accounts/{ACME}/ads", page_size=2)
    assert ids == ["687195134316", "687195134317", "687195134318", "687195134319", "687195134320"]
    assert bookmarks[-1] is None
    assert all(b and not b.isdigit() for b in bookmarks[:-1])
    assert len(set(bookmarks[:-1])) == len(bookmarks) - 1


async def test_page_that_ends_the_listing_has_null_bookmark(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A listing that fits one page exactly is one page, not a page plus an empty one."""
    ids, bookmarks = await walk(http, f"{sim.base_url}/ad_accounts/{ACME}/ads", page_size=5)
    assert len(ids) == 5
    assert bookmarks == [None]


async def test_bookmark_is_bound_to_its_listing(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A bookmark from one listing, or a forged one, is a 400."""
    url = f"{sim.base_url}/ad_accounts/{ACME}"
    _, body, _ = await get(http, url + "/ads", {"page_size": 1})
    for bookmark in (body["bookmark"], "1", base64.urlsafe_b64encode(b"687195134316:x").decode()):
        status, error, _ = await get(http, url + "/campaigns", {"bookmark": bookmark})
        assert status == 400
        assert error["code"] == 400
        assert "bookmark" in error["message"]


async def test_default_page_size_is_25(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Without page_size a page holds 25 items."""
    scenario = {"accounts": [{"id": "1", "name": "Big", "generate": {"ads": 30}}]}
    async with Simulator(scenario=scenario, now=clock) as sim:
        _, body, _ = await get(http, f"{sim.base_url}/ad_accounts/1/ads")
        assert len(body["items"]) == 25
        assert body["bookmark"] is not None


@pytest.mark.parametrize("size", ["0", "251", "-1", "ten", "2.5", ""])
async def test_page_size_out_of_bounds_is_400(
    sim: Simulator, http: aiohttp.ClientSession, size: str
) -> None:
    """page_size outside 1..250 (or not an integer) is a 400 with the spec's Error body."""
    for path in ("/ad_accounts", f"/ad_accounts/{ACME}/ads", f"/ad_accounts/{ACME}/campaigns"):
        status, body, _ = await get(http, sim.base_url + path, {"page_size": size})
        assert status == 400, path
        assert isinstance(body["code"], int)
        assert "page_size" in body["message"]


@pytest.mark.parametrize("size", ["1", "250"])
async def test_page_size_bounds_are_inclusive(
    sim: Simulator, http: aiohttp.ClientSession, size: str
) -> None:
    """page_size 1 and 250 are accepted."""
    status, _, _ = await get(http, f"{sim.base_url}/ad_accounts/{ACME}/ads", {"page_size": size})
    assert status == 200


@pytest.mark.parametrize(
    "params",
    [
        [
            ("entity_statuses", "ACTIVE"),
            ("entity_statuses", "PAUSED"),
            ("entity_statuses", "ARCHIVED"),
        ],
        [("entity_statuses", "ACTIVE,PAUSED,ARCHIVED")],
        [("entity_statuses", "ACTIVE,PAUSED"), ("entity_statuses", "ARCHIVED")],
    ],
)
async def test_archived_shows_only_when_asked(
    sim: Simulator, http: aiohttp.ClientSession, params: list[tuple[str, str]]
) -> None:
    """ARCHIVED entities are hidden by default; repeated or comma-separated statuses reveal them."""
    url = f"{sim.base_url}/ad_accounts/{ACME}/ads"
    _, default, _ = await get(http, url)
    assert ARCHIVED_AD not in [a["id"] for a in default["items"]]
    _, asked, _ = await get(http, url, params)
    assert ARCHIVED_AD in [a["id"] for a in asked["items"]]


async def test_entity_statuses_filters(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """entity_statuses=ARCHIVED lists the archived ad only."""
    url = f"{sim.base_url}/ad_accounts/{ACME}/ads"
    _, body, _ = await get(http, url, {"entity_statuses": "ARCHIVED"})
    assert [a["id"] for a in body["items"]] == [ARCHIVED_AD]


@pytest.mark.parametrize(
    "params",
    [
        {"entity_statuses": "ACTIVE,BOGUS"},
        {"entity_statuses": "active"},
        {"entity_statuses": "ACTIVE,"},
        {"order": "SIDEWAYS"},
        {"campaign_ids": "abc"},
        {"ad_ids": "1" * 19},
    ],
)
async def test_invalid_enum_or_id_is_400(
    sim: Simulator, http: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    """Unknown enum values and malformed ids are refused with a 400."""
    status, body, _ = await get(http, f"{sim.base_url}/ad_accounts/{ACME}/ads", params)
    assert status == 400
    assert body["message"].startswith("Invalid ad account ads parameters: ")


async def test_order_descending_sorts_by_id(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """order=DESCENDING lists newest (highest id) first, and pages keep that order."""
    url = f"{sim.base_url}/ad_accounts/{ACME}/ads"
    up, _ = await walk(http, url, page_size=2)
    down, _ = await walk(http, url, page_size=2, order="DESCENDING")
    assert down == list(reversed(up))


async def test_id_filters(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """campaign_ids, ad_group_ids and ad_ids filter ads; repeated keys and commas both work."""
    url = f"{sim.base_url}/ad_accounts/{ACME}/ads"
    _, body, _ = await get(http, url, [("ad_ids", "687195134316"), ("ad_ids", "687195134320")])
    assert [a["id"] for a in body["items"]] == ["687195134316", "687195134320"]
    _, body, _ = await get(http, url, {"ad_group_ids": "2680059592706"})
    assert [a["id"] for a in body["items"]] == ["687195134319"]
    _, body, _ = await get(http, url, {"campaign_ids": "626735565839,626735565838"})
    assert len(body["items"]) == 5
    _, body, _ = await get(
        http, f"{sim.base_url}/ad_accounts/{ACME}/ad_groups", {"campaign_ids": "626735565839"}
    )
    assert [g["id"] for g in body["items"]] == ["2680059592707"]


async def test_ad_ids_lookup_returns_exactly_those_ads(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Up to 250 ad_ids come back in one page or paged by bookmark, in id order; ids of
    another account or of no ad are left out, and entity_statuses still applies."""
    scenario = {
        "accounts": [
            {"id": "1", "name": "A", "generate": {"ads": 600, "archived_share": 0.1, "seed": 3}},
            {"id": "2", "name": "B", "generate": {"ads": 50}},
        ]
    }
    async with Simulator(scenario=scenario, now=clock) as sim:
        mine = [str(i) for i in sim.world.ids_of("1", "ads")]
        wanted = random.Random(5).sample(mine, 250)
        url = f"{sim.base_url}/ad_accounts/1/ads"
        every = "ACTIVE,PAUSED,ARCHIVED"
        query = {"ad_ids": ",".join(wanted), "page_size": 250, "entity_statuses": every}
        _, body, _ = await get(http, url, query)
        assert [a["id"] for a in body["items"]] == sorted(wanted, key=int)
        assert body["bookmark"] is None
        paged, bookmarks = await walk(
            http, url, ad_ids=",".join(wanted), page_size=100, entity_statuses=every
        )
        assert paged == sorted(wanted, key=int)
        assert len(bookmarks) == 3
        down, _ = await walk(
            http, url, ad_ids=",".join(wanted), entity_statuses=every, order="DESCENDING"
        )
        assert down == sorted(wanted, key=int, reverse=True)
        live = [i for i in sorted(wanted, key=int) if sim.world.ad(i).status != "ARCHIVED"]
        assert len(live) < 250  # some of them are archived: hidden by the default statuses
        _, body, _ = await get(http, url, {"ad_ids": ",".join(wanted), "page_size": 250})
        assert [a["id"] for a in body["items"]] == live
        theirs = str(sim.world.ids_of("2", "ads")[0])
        _, body, _ = await get(http, url, {"ad_ids": f"{mine[0]},{theirs},999999999999"})
        assert [a["id"] for a in body["items"]] == [mine[0]]


async def test_only_one_kind_of_id_filter(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Giving two kinds of id filter, or more than 250 ids, is a 400."""
    url = f"{sim.base_url}/ad_accounts/{ACME}"
    both = {"campaign_ids": "626735565838", "ad_ids": "687195134316"}
    assert (await get(http, url + "/ads", both))[0] == 400
    groups = {"campaign_ids": "626735565838", "ad_group_ids": "2680059592705"}
    assert (await get(http, url + "/ad_groups", groups))[0] == 400
    many = {"ad_ids": ",".join(str(687195134316 + i) for i in range(251))}
    status, body, _ = await get(http, url + "/ads", many)
    assert status == 400
    assert "250" in body["message"]
    assert (await get(http, url + "/ads", {"ad_ids": ",".join(many["ad_ids"].split(",")[:250])}))[
        0
    ] == 200


async def test_ad_account_id_pattern(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A non-digit ad_account_id is a 400; an unknown one is a 404."""
    for path in ("/ad_accounts/acme", "/ad_accounts/acme/ads", "/ad_accounts/12a/campaigns"):
        assert (await get(http, sim.base_url + path))[0] == 400
    status, body, _ = await get(http, sim.base_url + "/ad_accounts/123/ads")
    assert (status, body["code"]) == (404, 404)


async def test_single_entity_gets(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """GET of one ad, ad group and campaign returns it; ids of another account are 404."""
    base = f"{sim.base_url}/ad_accounts/{ACME}"
    for path, entity_id in (
        ("/ads/687195134316", "687195134316"),
        ("/ad_groups/2680059592705", "2680059592705"),
        ("/campaigns/626735565838", "626735565838"),
        ("/ads/" + ARCHIVED_AD, ARCHIVED_AD),
    ):
        status, body, _ = await get(http, base + path)
        assert (status, body["id"]) == (200, entity_id)
    assert (await get(http, base + "/ads/687195134322"))[0] == 404  # Northwind's ad
    assert (await get(http, base + "/ads/x1"))[0] == 400


async def test_include_shared_accounts(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Shared accounts are listed unless include_shared_accounts=false."""
    scenario = {
        "accounts": [{"id": "1", "name": "Own"}, {"id": "2", "name": "Agency", "shared": True}]
    }
    async with Simulator(scenario=scenario, now=clock) as sim:
        url = sim.base_url + "/ad_accounts"
        assert [a["id"] for a in (await get(http, url))[1]["items"]] == ["1", "2"]
        _, body, _ = await get(http, url, {"include_shared_accounts": "false"})
        assert [a["id"] for a in body["items"]] == ["1"]
        assert (await get(http, url, {"include_shared_accounts": "maybe"}))[0] == 400


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "demo-token"}, BASIC],
)
async def test_missing_or_bad_token_is_401(
    sim: Simulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """Without a valid bearer token every endpoint answers 401 code 2."""
    for path in ("/ad_accounts", f"/ad_accounts/{ACME}/ads", f"/ad_accounts/{ACME}/ads/1"):
        status, body, resp_headers = await get(http, sim.base_url + path, headers=headers)
        assert status == 401
        assert body == {"code": 2, "message": "Authentication failed."}
        assert "x-pinterest-rid" in resp_headers


async def test_access_token_expires_on_the_injected_clock(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """An access token works until its lifetime has passed on the injected clock, then 401s."""
    url = sim.base_url + "/ad_accounts"
    clock.advance(3599)
    assert (await get(http, url))[0] == 200
    clock.advance(1)
    assert (await get(http, url))[0] == 401


async def refresh(http: aiohttp.ClientSession, sim: Simulator, token: str, **kw: Any) -> Any:
    """POST /oauth/token with a refresh token; return (status, body)."""
    form = {"grant_type": "refresh_token", "refresh_token": token}
    headers = kw.get("headers", BASIC)
    async with http.post(sim.base_url + "/oauth/token", data=form, headers=headers) as r:
        return r.status, await r.json()


async def test_refresh_rotates_both_tokens(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A refresh returns a new access token and a new refresh token; the old one is refused."""
    clock.advance(3600)
    assert (await get(http, sim.base_url + "/ad_accounts"))[0] == 401
    status, body = await refresh(http, sim, "demo-refresh-token")
    assert status == 200
    assert body["response_type"] == "refresh_token"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] != "demo-refresh-token"
    assert body["refresh_token_expires_at"] == int(clock() + body["refresh_token_expires_in"])
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await get(http, sim.base_url + "/ad_accounts", headers=fresh))[0] == 200

    status, error = await refresh(http, sim, "demo-refresh-token")
    assert status == 400
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str)
    status, again = await refresh(http, sim, body["refresh_token"])
    assert status == 200
    assert again["refresh_token"] != body["refresh_token"]


async def test_refresh_needs_client_credentials(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Wrong or missing HTTP Basic client credentials are a 401; a bad grant a 400."""
    wrong = {"Authorization": "Basic " + base64.b64encode(b"demo-client:nope").decode()}
    assert (await refresh(http, sim, "demo-refresh-token", headers=wrong))[0] == 401
    assert (await refresh(http, sim, "demo-refresh-token", headers={}))[0] == 401
    form = {"grant_type": "authorization_code", "code": "x"}
    async with http.post(sim.base_url + "/oauth/token", data=form, headers=BASIC) as r:
        assert r.status == 400
    async with http.post(sim.base_url + "/oauth/token", json={"x": 1}, headers=BASIC) as r:
        assert r.status == 400
    assert sim.tokens.refreshes == 0


async def test_rate_limit_headers_and_429(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Responses tell the remaining budget; past it comes 429 code 8 until the window resets."""
    async with Simulator(now=clock, rate_limit=3, rate_window_s=60) as sim:
        url = sim.base_url + "/ad_accounts"
        seen = []
        for _ in range(3):
            status, _, headers = await get(http, url)
            assert status == 200
            assert headers["x-ratelimit-limit"] == "3"
            assert headers["x-pinterest-rid"]
            seen.append(headers["x-ratelimit-remaining"])
        assert seen == ["2", "1", "0"]
        clock.advance(20)
        status, body, headers = await get(http, url)
        assert (status, body) == (429, {"code": 8, "message": "Max rate limit exceeded"})
        assert headers["x-ratelimit-remaining"] == "0"
        assert headers["x-ratelimit-reset"] == "40"
        clock.advance(40)
        status, _, headers = await get(http, url)
        assert status == 200
        assert headers["x-ratelimit-remaining"] == "2"


async def test_revoked_account_is_403(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """After a revoke_access step the account answers 403; other accounts are unaffected."""
    sim.apply({"action": "revoke_access", "account": ACME})
    status, body, _ = await get(http, f"{sim.base_url}/ad_accounts/{ACME}/ads")
    assert (status, body["code"]) == (403, 29)
    assert (await get(http, f"{sim.base_url}/ad_accounts/{NORTHWIND}/ads"))[0] == 200
    sim.apply({"action": "restore_access", "account": ACME})
    assert (await get(http, f"{sim.base_url}/ad_accounts/{ACME}/ads"))[0] == 200


async def test_cycle_counts_restarts_of_completed_listings(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A cycle starts when a completed listing starts again; retries and later pages do not."""
    assert sim.cycle == 0
    accounts = sim.base_url + "/ad_accounts"
    ads = f"{sim.base_url}/ad_accounts/{ACME}/ads"
    await walk(http, accounts)
    assert sim.cycle == 1
    await walk(http, ads, page_size=2)
    await walk(http, f"{sim.base_url}/ad_accounts/{NORTHWIND}/ads")
    assert sim.cycle == 1
    sim.add_fault(path="/v5/ad_accounts", kind="status_500", times=1)
    await get(http, accounts)  # cycle 2 does not start on a failed first page...
    assert sim.cycle == 1
    await walk(http, accounts)  # ...but on the retry that succeeds
    assert sim.cycle == 2
    await get(http, ads, {"page_size": 2})  # an abandoned listing never completes
    await walk(http, ads, page_size=2)
    assert sim.cycle == 2
    await walk(http, ads)
    assert sim.cycle == 3
    assert [r.cycle for r in sim.requests][:2] == [1, 1]


async def test_unknown_route_is_json_404(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A path the simulator does not serve is a JSON 404 with the Error body."""
    status, body, headers = await get(http, sim.base_url + "/pins")
    assert (status, body["code"]) == (404, 404)
    assert headers["x-ratelimit-limit"] == "1000"


async def test_requests_are_logged(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """sim.requests records method, path, query and status of each /v5 request."""
    await get(http, f"{sim.base_url}/ad_accounts/{ACME}/ads", {"page_size": "2"})
    await get(http, sim.base_url + "/ad_accounts", headers={})
    first, second = sim.requests
    assert (first.method, first.path, first.status) == ("GET", f"/v5/ad_accounts/{ACME}/ads", 200)
    assert first.param("page_size") == "2"
    assert (second.status, second.fault) == (401, None)


def test_cached_listings_follow_membership_changes() -> None:
    """Listings patched in place on each change equal listings rebuilt from scratch."""
    from multidict import MultiDict

    from monitor.simulator import World
    from monitor.simulator.listings import Listings
    from monitor.simulator.params import parse_list_query

    world = World.from_scenario({"accounts": [{"id": "1", "name": "A", "generate": {"ads": 300}}]})
    cached = Listings(world)
    queries = [
        parse_list_query("ads", MultiDict(q))
        for q in (
            {},
            {"entity_statuses": "ARCHIVED"},
            {"entity_statuses": "ACTIVE", "order": "DESCENDING"},
            {"entity_statuses": "ACTIVE,PAUSED,ARCHIVED", "ad_group_ids": "2680059592700"},
            {"ad_ids": ",".join(str(687195134300 + i) for i in range(0, 400, 3))},
            {
                "ad_ids": ",".join(str(687195134300 + i) for i in range(0, 300, 7)),
                "order": "DESCENDING",
            },
        )
    ]
    originals = [cached.get("1", q) for q in queries]
    rng = random.Random(7)
    group = sorted(world.ad_groups)[0]
    for step in range(200):
        ad_id = rng.choice(sorted(world.ads))
        match step % 4:
            case 0:
                world.set_status(ad_id, rng.choice(["ACTIVE", "PAUSED", "ARCHIVED"]))
            case 1:
                world.create_ad(ad_group_id=group, status=rng.choice(["ACTIVE", "ARCHIVED"]))
            case 2:
                world.remove(ad_id)
            case _:
                world.rename(ad_id, f"renamed {step}")
        for q, original in zip(queries, originals, strict=True):
            fresh = Listings(world).get("1", q)
            kept = cached.get("1", q)
            assert kept is original  # patched in place, never rebuilt
            assert [e.id for e in kept.items] == [e.id for e in fresh.items]
            assert kept.keys == fresh.keys
