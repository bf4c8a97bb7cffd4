"""The real daemon against a simulator that sends garbage in well-formed answers: no lost,
false or doubled alert (future stamps, empty or shrunk listings, nulls, bad items, huge bodies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.daemon import EXIT_OK, EXIT_POLL_FAILED, run_once
from monitor.store.sqlite import open_store
from tests.harness import ACCOUNT, ADS, GROUP, Rig, rig, small_scenario

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ADS_PATH = "/v5/ad_accounts/*/ads"


@pytest.fixture(params=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Every case both ways: against the whole snapshot, and page by page in id order."""
    return bool(request.param == "stream")


async def event_types(r: Rig) -> list[tuple[str, str]]:
    store = await open_store(r.folder / "state.db")
    try:
        return sorted((e.entity_id, e.type) for e in await store.events())
    finally:
        await store.close()


def lookups(r: Rig) -> list[list[str]]:
    """The ids of each request that asked for ads by id (the removal proof)."""
    asked = [[v for k, v in q.query if k == "ad_ids"] for q in r.sim.requests]
    return [ids for ids in asked if ids]


async def test_a_future_stamp_never_hides_a_later_rejection(tmp_path: Path, stream: bool) -> None:
    """One listing with updated_time in 2100 is logged and survived; the real rejection after it
    is reported once."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.add_fault(kind="future_time", path=ADS_PATH, ads=[ADS[2]], times=3)
        with capture_logs() as logs:
            assert await run_once(r.config) == EXIT_OK
        (warning,) = [e for e in logs if e["event"] == "poll.untrusted_updated_time"]
        assert (warning["log_level"], warning["ids"]) == ("warning", [ADS[2]])
        r.sim.clear_faults()
        r.sim.world.reject_ad(ADS[2], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == [(ADS[2], "ad.rejected")]
        (message,) = r.messages()
        assert "Holiday Ad 2" in message["title"]


async def test_an_empty_listing_after_a_baseline_reports_nothing(
    tmp_path: Path, stream: bool
) -> None:
    """{"items": [], "bookmark": null} is not "every ad removed": the lookup by id finds them."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.add_fault(kind="empty_listing", path=ADS_PATH, times=1)
        with capture_logs() as logs:
            assert await run_once(r.config) == EXIT_OK
        assert any(e["event"] == "poll.listing_incomplete" for e in logs)
        assert [sorted(ids) for ids in lookups(r)] == [sorted(ADS)]
        assert await run_once(r.config) == EXIT_OK  # and no "5 new ads" afterwards
        assert r.messages() == []
        assert await event_types(r) == []


async def test_a_real_removal_is_confirmed_by_lookup_then_reported(tmp_path: Path) -> None:
    """An ad that is gone from the listing and from a lookup by id is reported removed, once."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.remove(ADS[3])
        assert await run_once(r.config) == EXIT_OK
        assert lookups(r) == [[ADS[3]]]
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == [(ADS[3], "ad.removed")]


async def test_a_failed_lookup_removes_nothing_until_proven(tmp_path: Path) -> None:
    """When the confirming lookup fails, the candidate waits for the next cycle's proof."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.remove(ADS[3])
        # Both pages of the listing pass; the lookup (the 3rd request) keeps failing.
        r.sim.add_fault(kind="status_500", path=ADS_PATH, skip=2, times=2)
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == []
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == [(ADS[3], "ad.removed")]


def big_scenario(ads: int) -> dict[str, Any]:
    scenario = small_scenario()
    group = scenario["accounts"][0]["campaigns"][0]["ad_groups"][0]
    group["ads"] = [{"id": str(687195134316 + i), "name": f"Ad {i}"} for i in range(ads)]
    return scenario


async def test_a_mass_removal_waits_for_a_second_cycle(tmp_path: Path) -> None:
    """Most of an account vanishing at once is held one cycle, then reported if it holds."""
    async with rig(tmp_path, big_scenario(12)) as r:
        r.write(page_size=250)
        await run_once(r.config)
        ids = [str(687195134316 + i) for i in range(12)]
        for ad_id in ids[:9]:
            r.sim.world.remove(ad_id)
        with capture_logs() as logs:
            assert await run_once(r.config) == EXIT_OK
        assert any(e["event"] == "poll.mass_removal_held" for e in logs)
        assert await event_types(r) == []
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == sorted((i, "ad.removed") for i in ids[:9])


async def test_null_status_fields_are_unknown_for_a_cycle(tmp_path: Path, stream: bool) -> None:
    """Status fields served null once: no ACTIVE → null, and no false approval after."""
    async with rig(tmp_path, stream=stream) as r:
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        await run_once(r.config)
        r.sim.add_fault(kind="null_fields", path=ADS_PATH, times=3)
        with capture_logs() as logs:
            assert await run_once(r.config) == EXIT_OK
        (warning,) = [e for e in logs if e["event"] == "poll.fields_unknown"]
        assert warning["count"] == 5
        assert await event_types(r) == []
        r.sim.clear_faults()
        r.sim.world.reject_ad(ADS[4], reasons=["CLICKBAIT"])
        assert await run_once(r.config) == EXIT_OK
        # The real rejection is reported; ADS[0] is not "approved" by a blank cycle.
        assert await event_types(r) == [(ADS[4], "ad.rejected")]


@pytest.mark.parametrize("kind", ["missing_id", "integer_id"])
async def test_one_bad_item_does_not_silence_the_account(
    tmp_path: Path, stream: bool, kind: str
) -> None:
    """An item without a usable id is logged with its page and skipped; the rest still alert,
    and nothing is inferred from absence."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        # ADS[1] ends the first page: the page's id range must survive it too.
        r.sim.add_fault(kind=kind, path=ADS_PATH, ads=[ADS[1]])
        r.sim.world.reject_ad(ADS[2], reasons=["HASHTAGS"])
        with capture_logs() as logs:
            assert await run_once(r.config) == EXIT_OK
        (bad,) = [e for e in logs if e["event"] == "poll.bad_item"]
        assert (bad["log_level"], bad["page"]) == ("warning", 1)
        assert f'"ad_account_id":"{ACCOUNT}"' in bad["excerpt"]
        assert await event_types(r) == [(ADS[2], "ad.rejected")]
        assert lookups(r) == []  # no removal candidate while an item was skipped
        (message,) = r.messages()
        assert "Holiday Ad 2" in message["title"]


async def test_a_body_over_the_cap_fails_the_page_and_changes_nothing(tmp_path: Path) -> None:
    """A 3 MB item under a 1 MB cap fails that listing like a truncated body: no events, no
    bloated state, and the next good listing is diffed as usual."""
    async with rig(tmp_path) as r:
        r.write(page_size=250, extra_monitor="")
        r.path.write_text(
            r.path.read_text().replace("retries = 2", 'retries = 2\nmax_response_size = "1MB"')
        )
        await run_once(r.config)
        size_before = (r.folder / "state.db").stat().st_size
        r.sim.add_fault(kind="huge_item", path=ADS_PATH, ads=[ADS[0]], size=3_000_000)
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_POLL_FAILED
        assert await event_types(r) == []
        assert (r.folder / "state.db").stat().st_size < size_before + 200_000
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == [(ADS[1], "ad.rejected")]


async def test_a_huge_name_under_the_cap_is_cut_before_it_is_stored(tmp_path: Path) -> None:
    """A 500 KB name fits the body cap, but neither the state file nor the message grows by it."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.add_fault(kind="huge_item", path=ADS_PATH, ads=[ADS[3]], size=500_000)
        r.sim.world.reject_ad(ADS[3], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        assert len(message["title"]) + len(message["message"]) < 10_000
        assert (r.folder / "state.db").stat().st_size < 400_000


async def test_a_new_ad_with_garbage_beside_it_is_still_created(tmp_path: Path) -> None:
    """A created ad is reported even when another item of the same page is unusable."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        new = r.sim.world.create_ad(ad_group_id=GROUP, name="Brand New Ad")
        r.sim.add_fault(kind="missing_id", path=ADS_PATH, ads=[ADS[0]])
        assert await run_once(r.config) == EXIT_OK
        assert await event_types(r) == [(new.id, "ad.created")]
        (message,) = r.messages()
        assert "Brand New Ad" in message["title"]
