"""Review stories: ads created or edited sit PENDING and are decided at their moment, on the
simulator's clock, and the admin API says when each decision happened."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.daemon import EXIT_OK, run_once
from monitor.errors import ConfigError
from monitor.simulator import (
    ManualClock,
    Simulator,
    World,
    builtin_scenario,
    load_scenario,
    vocab,
)
from tests.harness import ADS, TOKEN, Rig, small_scenario
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ACME = "549755885175"
NORTHWIND = "549755885176"
AUTH = {"Authorization": "Bearer demo-token"}
T0 = 1_732_000_000.0  # ManualClock's default start: the stories' origin in these tests

TWO_ACCOUNTS = f"""
[[accounts]]
id = "{ACME}"
name = "Acme Home & Living"
generate = {{ ads = 300, campaigns = 2, ad_groups_per_campaign = 2 }}

[[accounts]]
id = "{NORTHWIND}"
name = "Northwind Outdoor Co."
generate = {{ ads = 300 }}
"""

SCRIPTED = (
    TWO_ACCOUNTS
    + f"""
[[reviews]]
kind = "edit"
account = "{ACME}"
ads = "first:3"
enter_s = [10, 20, 30]
decide_s = 60
decision = ["reject", "approve", "reject"]
reasons = ["URGENCY", "CLICKBAIT"]
reasons_per_ad = 2
fields = {{ destination_url = "https://acme.example/edited" }}
note = "three edits, decided a minute after each"
"""
)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when a test says so."""
    return ManualClock(T0)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client."""
    async with aiohttp.ClientSession() as session:
        yield session


async def lookup(
    http: aiohttp.ClientSession, sim: Simulator, account: str, ids: list[str], **params: str
) -> dict[str, Any]:
    """The ads with ``ids`` by one ``ad_ids`` request (a fast lane's lookup), by id."""
    query = {"ad_ids": ",".join(ids), "page_size": "250", **params}
    async with http.get(
        f"{sim.base_url}/ad_accounts/{account}/ads", params=query, headers=AUTH
    ) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["bookmark"] is None
    return {a["id"]: a for a in body["items"]}


async def admin(
    http: aiohttp.ClientSession, sim: Simulator, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """Call an admin endpoint; status and JSON body."""
    async with http.request(method, sim.origin + path, json=body) as r:
        return r.status, await r.json()


async def test_scripted_edits_are_pending_until_their_decision(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Each edited ad turns PENDING at its entry moment and gets its verdict at its decision
    moment, not a millisecond before; updated_time is the scripted second."""
    async with Simulator(scenario=SCRIPTED, now=clock) as sim:
        first3 = [str(i) for i in sim.world.ids_of(ACME, "ads")[:3]]
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        assert [r["ad_id"] for r in listed["reviews"]] == first3
        assert [(r["entered_at"], r["decided_at"]) for r in listed["reviews"]] == [
            (T0 + 10, T0 + 70),
            (T0 + 20, T0 + 80),
            (T0 + 30, T0 + 90),
        ]
        assert {r["state"] for r in listed["reviews"]} == {"scheduled"}

        clock.advance(9.999)
        ads = await lookup(http, sim, ACME, first3)
        assert [ads[i]["review_status"] for i in first3] == ["APPROVED"] * 3
        clock.advance(0.001)  # T0 + 10: the first edit
        ads = await lookup(http, sim, ACME, first3)
        assert [ads[i]["review_status"] for i in first3] == ["PENDING", "APPROVED", "APPROVED"]
        edited = ads[first3[0]]
        assert (edited["summary_status"], edited["updated_time"]) == ("PENDING", T0 + 10)
        assert edited["destination_url"] == "https://acme.example/edited"

        clock.advance(69.999 - 10)
        ads = await lookup(http, sim, ACME, first3)
        assert [ads[i]["review_status"] for i in first3] == ["PENDING"] * 3
        clock.advance(0.001)  # T0 + 70: the first decision
        rejected = (await lookup(http, sim, ACME, first3))[first3[0]]
        assert rejected["review_status"] == rejected["summary_status"] == "REJECTED"
        assert rejected["status"] == "ACTIVE"
        assert rejected["rejected_reasons"] == ["URGENCY", "CLICKBAIT"]  # the pool's order
        assert rejected["rejection_labels"] == [
            vocab.label_for(r) for r in ("URGENCY", "CLICKBAIT")
        ]
        assert rejected["updated_time"] == T0 + 70

        clock.advance(20)
        ads = await lookup(http, sim, ACME, first3)
        assert [ads[i]["review_status"] for i in first3] == ["REJECTED", "APPROVED", "REJECTED"]
        assert ads[first3[1]]["rejected_reasons"] == []
        _, listed = await admin(http, sim, "GET", "/_sim/reviews?state=decided")
        assert [(r["ad_id"], r["decided_at"], r["decision"]) for r in listed["reviews"]] == [
            (first3[0], T0 + 70, "reject"),
            (first3[1], T0 + 80, "approve"),
            (first3[2], T0 + 90, "reject"),
        ]
        assert listed["now"] == T0 + 90


async def test_created_ads_appear_pending_then_decided(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """A create story reserves its ids when staged; each ad appears PENDING at its moment,
    created then, and is decided later."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        clock.advance(500)  # stories posted at run time count from the post
        status, staged = await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            {
                "kind": "create",
                "account": NORTHWIND,
                "count": 2,
                "name": "Spring launch {n}",
                "enter_s": [5, 15],
                "decide_s": 30,
                "decision": "approve",
            },
        )
        assert status == 200, staged
        ids = [r["ad_id"] for r in staged["reviews"]]
        assert staged["now"] == T0 + 500
        assert [(r["entered_at"], r["decided_at"]) for r in staged["reviews"]] == [
            (T0 + 505, T0 + 535),
            (T0 + 515, T0 + 545),
        ]
        newest = max(sim.world.ids_of(ACME, "ads")[-1], sim.world.ids_of(NORTHWIND, "ads")[-1])
        assert all(int(i) > newest for i in ids)
        async with http.get(
            f"{sim.base_url}/ad_accounts/{NORTHWIND}/ads/{ids[0]}", headers=AUTH
        ) as r:
            assert r.status == 404  # reserved, not created yet

        clock.advance(5)
        ads = await lookup(http, sim, NORTHWIND, ids)
        assert list(ads) == [ids[0]]
        new = ads[ids[0]]
        assert (new["review_status"], new["summary_status"]) == ("PENDING", "PENDING")
        assert new["created_time"] == new["updated_time"] == T0 + 505
        assert new["name"] == "Spring launch 1"

        clock.advance(40)  # T0 + 545: both entered, both decided
        ads = await lookup(http, sim, NORTHWIND, ids)
        assert [ads[i]["review_status"] for i in ids] == ["APPROVED", "APPROVED"]
        assert [ads[i]["updated_time"] for i in ids] == [T0 + 535, T0 + 545]


RANDOM_STORY: dict[str, Any] = {
    "kind": "edit",
    "count": 60,
    "enter_s": {"min_s": 0, "max_s": 300},
    "decide_s": {"min_s": 30, "max_s": 300},
    "rejected_share": 0.25,
    "reasons_per_ad": 2,
    "seed": 7,
}


async def _staged(http: aiohttp.ClientSession, story: dict[str, Any]) -> list[dict[str, Any]]:
    async with Simulator(scenario=TWO_ACCOUNTS, now=ManualClock(T0)) as sim:
        status, body = await admin(http, sim, "POST", "/_sim/reviews", story)
        assert status == 200, body
        reviews: list[dict[str, Any]] = body["reviews"]
        return reviews


async def test_random_story_is_reproducible_by_seed(http: aiohttp.ClientSession) -> None:
    """The same seed draws the same ads, moments, verdicts and reasons; another seed others;
    draws stay inside their windows, and the rejected share is exact."""
    first = await _staged(http, RANDOM_STORY)
    again = await _staged(http, RANDOM_STORY)
    other = await _staged(http, {**RANDOM_STORY, "seed": 8})
    assert first == again
    assert {r["ad_id"] for r in first} != {r["ad_id"] for r in other}
    assert len({r["ad_id"] for r in first}) == 60
    assert {r["account"] for r in first} == {ACME, NORTHWIND}  # drawn from both accounts
    for r in first:
        assert 0 <= r["entered_at"] - T0 <= 300
        assert 30 <= r["decided_at"] - r["entered_at"] <= 300 + 1e-6
    rejected = [r for r in first if r["decision"] == "reject"]
    assert len(rejected) == 15
    assert all(
        len(r["reasons"]) == 2 and set(r["reasons"]) <= set(vocab.REJECTED_REASONS)
        for r in rejected
    )
    assert all(r["reasons"] == [] for r in first if r["decision"] == "approve")
    # Changing the share leaves the ads and their moments alone (one stream per purpose).
    shifted = await _staged(http, {**RANDOM_STORY, "rejected_share": 0.5})
    assert [(r["ad_id"], r["decided_at"]) for r in shifted] == [
        (r["ad_id"], r["decided_at"]) for r in first
    ]
    assert sum(r["decision"] == "reject" for r in shifted) == 30


async def test_every_ad_reads_as_its_review_says_at_every_moment(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Stepping the clock through a random story, each ad is APPROVED before it enters,
    PENDING from entered_at until decided_at, and decided from decided_at on."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        reviews = sim.stage_reviews(RANDOM_STORY)
        moments = sorted({r.entered_at for r in reviews} | {r.decided_at for r in reviews})
        probes = [T0, *moments, *(m - 0.0005 for m in moments), moments[-1] + 1]
        verdict = {"reject": "REJECTED", "approve": "APPROVED"}
        for probe in sorted(probes):
            clock.t = probe
            seen = {}
            for account in (ACME, NORTHWIND):
                ids = [r.ad_id for r in reviews if r.account == account]
                seen |= await lookup(http, sim, account, ids)
            for r in reviews:
                expected = (
                    "APPROVED"
                    if probe < r.entered_at
                    else "PENDING"
                    if probe < r.decided_at
                    else verdict[r.decision]
                )
                assert seen[r.ad_id]["review_status"] == expected, (probe, r)
                if expected == "REJECTED":
                    assert seen[r.ad_id]["rejected_reasons"] == list(r.reasons)
        assert sim.state()["reviews"] == {"scheduled": 0, "pending": 0, "decided": 60, "skipped": 0}


async def test_even_spread_spaces_the_moments(clock: ManualClock) -> None:
    """spread = "even" puts the ads at equal steps across the window, in id order."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        reviews = sim.stage_reviews(
            {
                "kind": "edit",
                "account": ACME,
                "ads": "last:5",
                "enter_s": {"min_s": 0, "max_s": 100, "spread": "even"},
                "decide_s": 10,
                "decision": "approve",
            }
        )
    assert [r.decided_at - T0 for r in reviews] == [10, 35, 60, 85, 110]
    assert [r.ad_id for r in reviews] == [str(i) for i in sim.world.ids_of(ACME, "ads")[-5:]]


async def test_decisions_run_on_the_wall_clock_by_default(http: aiohttp.ClientSession) -> None:
    """Without an injected clock, a story's moments are wall-clock times from the post."""
    async with Simulator(scenario=TWO_ACCOUNTS) as sim:
        before = time.time()
        _, body = await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            [
                {
                    "kind": "edit",
                    "account": ACME,
                    "ads": "first:1",
                    "decide_s": 0,
                    "decision": "approve",
                },
                {"kind": "edit", "account": ACME, "ads": "last:1", "decide_s": 3600},
            ],
        )
        after = time.time()
        quick, slow = body["reviews"]
        assert before <= quick["decided_at"] <= after
        assert before + 3600 <= slow["decided_at"] <= after + 3600
        ads = await lookup(http, sim, ACME, [quick["ad_id"], slow["ad_id"]])
        assert ads[quick["ad_id"]]["review_status"] == "APPROVED"
        # Entered and decided in the same second: the decision still reads as newer.
        assert ads[quick["ad_id"]]["updated_time"] == int(quick["entered_at"]) + 1
        assert ads[slow["ad_id"]]["review_status"] == "PENDING"
        _, listed = await admin(http, sim, "GET", "/_sim/reviews?state=pending")
        assert [r["ad_id"] for r in listed["reviews"]] == [slow["ad_id"]]


async def test_scenario_stories_count_from_start_and_come_back_on_reset(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """A scenario's offsets count from when the simulator starts serving; a reset stages
    the scenario's stories afresh and forgets those posted at run time."""
    sim = Simulator(scenario=SCRIPTED, now=clock)
    clock.advance(1000)  # built long before it serves
    async with sim:
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        assert listed["reviews"][0]["entered_at"] == T0 + 1010
        await admin(
            http, sim, "POST", "/_sim/reviews", {"kind": "create", "count": 1, "decide_s": 5}
        )
        clock.advance(100)
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        assert [r["state"] for r in listed["reviews"]] == ["decided"] * 4
        _, state = await admin(http, sim, "POST", "/_sim/reset")
        assert state["reviews"] == {"scheduled": 3, "pending": 0, "decided": 0, "skipped": 0}
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        assert [r["entered_at"] for r in listed["reviews"]] == [T0 + 1110, T0 + 1120, T0 + 1130]
        first = listed["reviews"][0]["ad_id"]
        assert (await lookup(http, sim, ACME, [first]))[first]["review_status"] == "APPROVED"


async def test_decision_without_bump_keeps_the_entry_stamp(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """bump_updated_time = false: the decision leaves updated_time at the edit's second."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        (review,) = sim.stage_reviews(
            {
                "kind": "edit",
                "ads": "first:1",
                "account": ACME,
                "enter_s": 3,
                "decide_s": 50,
                "decision": "reject",
                "reasons": ["HASHTAGS"],
                "bump_updated_time": False,
            }
        )
        clock.advance(60)
        ad = (await lookup(http, sim, ACME, [review.ad_id]))[review.ad_id]
        assert (ad["review_status"], ad["updated_time"]) == ("REJECTED", T0 + 3)


async def test_review_of_a_removed_ad_is_skipped(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """An ad removed while in review is reported skipped, with the reason, not decided."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        (review,) = sim.stage_reviews(
            {"kind": "edit", "ads": "first:1", "account": ACME, "decide_s": 30}
        )
        assert review.state == "pending"
        sim.world.remove(review.ad_id)
        clock.advance(30)
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        (shown,) = listed["reviews"]
        assert shown["state"] == "skipped"
        assert "removed" in shown["error"]


async def test_admin_refuses_bad_stories(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Invalid stories are 400s with every problem; stories the world cannot honour are 400s
    naming why, and stage nothing."""
    async with Simulator(scenario=TWO_ACCOUNTS, now=clock) as sim:
        status, body = await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            {"kind": "edit", "decide_s": -1, "reasons": ["NOPE"]},
        )
        assert status == 400
        assert any("decide_s" in p for p in body["problems"])
        assert any("NOPE" in p for p in body["problems"])
        status, body = await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            {"kind": "edit", "account": ACME, "count": 301, "decide_s": 1},
        )
        assert (status, "only 300 ads" in body["message"]) == (400, True)
        await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            {"kind": "edit", "ads": "first:1", "account": ACME, "decide_s": 9},
        )
        status, body = await admin(
            http,
            sim,
            "POST",
            "/_sim/reviews",
            {"kind": "edit", "ads": "first:2", "account": ACME, "decide_s": 9},
        )
        assert (status, "already in a staged review" in body["message"]) == (400, True)
        assert (await admin(http, sim, "GET", "/_sim/reviews?state=late"))[0] == 400
        _, listed = await admin(http, sim, "GET", "/_sim/reviews")
        assert len(listed["reviews"]) == 1


@pytest.mark.parametrize(
    ("story", "fragment"),
    [
        ({"decide_s": 1}, "reviews[0].kind: required"),
        ({"kind": "review", "decide_s": 1}, "reviews[0].kind: 'review' is not one of"),
        ({"kind": "edit"}, "reviews[0].decide_s: required"),
        ({"kind": "create", "decide_s": 1}, "kind = create needs count or ids"),
        ({"kind": "edit", "ids": ["1"], "decide_s": 1}, "reviews[0].ids: only for kind = create"),
        (
            {"kind": "edit", "count": 2, "decide_s": [1, 2, 3]},
            "reviews[0].decide_s: 3 values for 2 ads",
        ),
        ({"kind": "edit", "decide_s": {"min_s": 9, "max_s": 1}}, "max_s is below min_s"),
        ({"kind": "edit", "decide_s": {"min_s": 1}}, "a window needs min_s and max_s"),
        ({"kind": "edit", "decide_s": 1, "decision": "maybe"}, 'expected "approve", "reject"'),
        ({"kind": "edit", "decide_s": 1, "decision": "reject", "rejected_share": 1}, "not both"),
        (
            {"kind": "edit", "decide_s": 1, "reasons": ["URGENCY"], "reasons_per_ad": 2},
            "from 1 to 1",
        ),
        (
            {"kind": "edit", "decide_s": 1, "fields": {"review_status": "APPROVED"}},
            "set by the review",
        ),
        ({"kind": "edit", "decide_s": 1, "fields": {"colour": "red"}}, "not a settable field"),
        (
            {"kind": "edit", "decide_s": 1, "account": "42"},
            "reviews[0].account: no account with id 42",
        ),
        ({"kind": "edit", "decide_s": 1, "ads": "9"}, "reviews[0].ads: no ads with id(s) 9"),
    ],
)
def test_scenario_review_errors_name_the_key(story: dict[str, Any], fragment: str) -> None:
    """A broken [[reviews]] table is a ConfigError naming the key path and the reason."""
    data = {**load_scenario_data(), "reviews": [story]}
    with pytest.raises(ConfigError) as caught:
        World.from_scenario(load_scenario(data, name="s.toml"))
    assert any(fragment in line for line in caught.value.problems), caught.value.problems


def load_scenario_data() -> dict[str, Any]:
    """TWO_ACCOUNTS as a mapping."""
    import tomllib

    return tomllib.loads(TWO_ACCOUNTS)


def test_shipped_reviews_scenario_stages_200_reviews() -> None:
    """The built-in ``reviews`` scenario: 200 ads in two accounts, each entering within five
    minutes of the start and decided within ten, about a quarter rejected."""
    clock = ManualClock(T0)
    sim = Simulator(scenario=builtin_scenario("reviews"), now=clock)
    reviews = sim.reviews
    assert len(reviews) == len({r.ad_id for r in reviews}) == 200
    assert {r.account for r in reviews} == {ACME, NORTHWIND}
    assert sum(r.kind == "create" for r in reviews) == 40
    assert all(0 <= r.entered_at - T0 <= 300 and r.decided_at - T0 <= 600 for r in reviews)
    assert sum(r.decision == "reject" for r in reviews) == 50
    clock.advance(600)
    sim.tick()
    assert sim.state()["reviews"]["decided"] == 200


def test_a_story_the_world_cannot_honour_fails_the_simulator_build() -> None:
    """A scenario drawing more ads than it has is a ConfigError when the simulator is built."""
    story = {"kind": "edit", "account": ACME, "count": 500, "decide_s": 1}
    with pytest.raises(ConfigError) as caught:
        Simulator(scenario={**load_scenario_data(), "reviews": [story]}, now=ManualClock())
    assert "reviews[0]" in caught.value.problems[0]
    assert "only 300 ads" in caught.value.problems[0]


async def test_daemon_sees_each_decision_after_its_moment(tmp_path: Path) -> None:
    """The real daemon on the simulator's injected clock: after its baseline a story is
    posted, and each cycle reports exactly the decisions whose moment has passed."""
    clock = ManualClock(T0)
    scenario = small_scenario()
    async with Simulator(scenario=scenario, now=clock) as sim, HttpSink() as sink:
        r = Rig(sim, sink, tmp_path / "pinmon.toml", tmp_path)
        r.write()
        assert await run_once(r.config, now=clock) == EXIT_OK  # the baseline
        async with aiohttp.ClientSession() as http:
            status, body = await admin(
                http,
                sim,
                "POST",
                "/_sim/reviews",
                {
                    "kind": "edit",
                    "ads": ADS[:3],
                    "enter_s": 1,
                    "decide_s": [60, 120, 180],
                    "decision": ["reject", "approve", "reject"],
                    "reasons": ["LANDING_PAGE_BROKEN"],
                },
            )
        assert status == 200, body
        decided_at = {r["ad_id"]: r["decided_at"] for r in body["reviews"]}
        seen: list[list[str]] = []
        probes = [T0 + 2, decided_at[ADS[0]], decided_at[ADS[1]] - 1, decided_at[ADS[1]]]
        for moment in [*probes, decided_at[ADS[2]]]:
            clock.t = moment
            before = len(r.messages())
            assert await run_once(r.config, now=clock) == EXIT_OK
            seen.append([m["title"] for m in r.messages()[before:]])
        (entered,), nothing_yet = seen[0], seen[2]
        assert "review" in entered.lower()
        assert nothing_yet == []  # a second before the approval
        for (title,), word, name in zip(
            (seen[1], seen[3], seen[4]),
            ("rejected", "approved", "rejected"),
            ("Holiday Ad 0", "Holiday Ad 1", "Holiday Ad 2"),
            strict=True,
        ):
            assert word in title.lower()
            assert name in title
        assert "Landing page" in r.messages()[1]["message"]
        assert TOKEN not in str(r.messages())
