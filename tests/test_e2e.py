"""The real daemon against the simulator over loopback HTTP, real SQLite, real apprise sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, EXIT_POLL_FAILED, run_once
from monitor.store.sqlite import open_store
from tests.harness import ACCOUNT, ADS, CAMPAIGN, GROUP, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture(params=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Every case both ways: against the whole snapshot, and page by page in id order."""
    return bool(request.param == "stream")


async def test_first_cycle_is_a_silent_baseline(tmp_path: Path, stream: bool) -> None:
    """The first cycle records every ad and sends nothing."""
    async with rig(tmp_path, stream=stream) as r:
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        assert r.messages() == []
        store = await open_store(tmp_path / "state.db")
        try:
            assert (await store.accounts())[0].last_success_at is not None
            assert await store.events() == []
        finally:
            await store.close()


async def test_rejection_without_updated_time_bump_is_alerted(tmp_path: Path, stream: bool) -> None:
    """A rejection that leaves updated_time alone still reaches the target, with reasons."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(
            ADS[1], reasons=["LANDING_PAGE_BROKEN"], labels=["Landing page is broken"], bump=False
        )
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        assert "rejected" in message["title"].lower()
        assert "Holiday Ad 1" in message["title"]
        assert "Landing page is broken" in message["message"]
        assert f"advertiser/{ACCOUNT}" in message["message"]
        assert message["type"] == "failure"
        # Parents by name, looked up only because there was an event to describe.
        assert "Holiday Sale 2024" in message["message"]
        assert "Gift Shoppers" in message["message"]


async def test_approval_pause_created_removed(tmp_path: Path, stream: bool) -> None:
    """Approval, pause, a new ad and a removed ad are each detected and sent in one digest."""
    async with rig(tmp_path, stream=stream) as r:
        r.sim.world.set_pending(ADS[0])
        await run_once(r.config)
        r.sim.world.approve_ad(ADS[0])
        r.sim.world.pause(ADS[1])
        new = r.sim.world.create_ad(ad_group_id=GROUP, name="Brand New Ad")
        r.sim.world.remove(ADS[4])
        assert await run_once(r.config) == EXIT_OK
        (digest,) = r.messages()
        body = digest["message"]
        assert "4 changes" in digest["title"]
        for text in ("Holiday Ad 0", "Holiday Ad 1", "Brand New Ad", "Holiday Ad 4"):
            assert text in body
        store = await open_store(tmp_path / "state.db")
        try:
            types = {e.entity_id: e.type for e in await store.events()}
        finally:
            await store.close()
        assert types == {
            ADS[0]: "ad.approved",
            ADS[1]: "ad.status_changed",
            new.id: "ad.created",
            ADS[4]: "ad.removed",
        }


async def test_no_duplicate_alerts_across_restarts(tmp_path: Path, stream: bool) -> None:
    """Each run is a new process's worth of state: a change is reported once, never again."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[2], reasons=["HASHTAGS"])
        await run_once(r.config)
        await run_once(r.config)
        await run_once(r.config)
        assert len(r.messages()) == 1


async def test_stale_replica_never_overwrites_or_alerts(tmp_path: Path, stream: bool) -> None:
    """A lagging replica serving an older updated_time: no event, the newer state is kept."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.world.pause(ADS[3])
        await run_once(r.config)
        assert len(r.messages()) == 1
        r.sim.add_fault(kind="stale", path="/v5/ad_accounts/*/ads", ads=[ADS[3]])
        assert await run_once(r.config) == EXIT_OK
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        assert len(r.messages()) == 1


async def test_failed_page_mid_listing_reports_nothing(tmp_path: Path, stream: bool) -> None:
    """A listing that breaks after its first page fails the cycle and reports nothing."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sim.add_fault(kind="status_500", path="/v5/ad_accounts/*/ads", skip=1)
        assert await run_once(r.config) == EXIT_POLL_FAILED
        assert r.messages() == []
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        assert "rejected" in message["title"].lower()


async def test_repeated_bookmark_fails_the_listing(tmp_path: Path, stream: bool) -> None:
    """A page whose bookmark loops back fails the cycle instead of inventing removals."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.add_fault(kind="repeat_bookmark", path="/v5/ad_accounts/*/ads")
        assert await run_once(r.config) == EXIT_POLL_FAILED
        r.sim.clear_faults()
        assert await run_once(r.config) == EXIT_OK
        assert r.messages() == []


async def test_failed_send_stays_queued_and_goes_out_later(tmp_path: Path, stream: bool) -> None:
    """A target answering 500 fails the run (exit 3); the next run delivers the same event."""
    async with rig(tmp_path, stream=stream) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sink.fail_next("/alerts", status=500)
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED
        store = await open_store(tmp_path / "state.db")
        try:
            (pending,) = await store.deliveries(statuses=["pending"])
            assert pending.attempts == 1
            assert pending.last_error
            assert "500" in pending.last_error
            await store.requeue(event_id=pending.event.id)
        finally:
            await store.close()
        assert await run_once(r.config) == EXIT_OK
        assert len(r.sink.on("/alerts")) == 2
        assert "rejected" in r.messages()[-1]["title"].lower()


async def test_campaigns_and_ad_groups_are_watched_when_enabled(
    tmp_path: Path, stream: bool
) -> None:
    """With every entity kind enabled, pausing a campaign and an ad group emits their events."""
    async with rig(tmp_path, stream=stream) as r:
        r.write(extra_monitor='entities = ["campaigns", "ad_groups", "ads"]')
        await run_once(r.config)
        r.sim.world.pause(CAMPAIGN)
        r.sim.world.pause(GROUP)
        assert await run_once(r.config) == EXIT_OK
        store = await open_store(tmp_path / "state.db")
        try:
            events = {e.type: e for e in await store.events()}
        finally:
            await store.close()
        assert set(events) == {"campaign.status_changed", "ad_group.status_changed"}
        assert events["ad_group.status_changed"].campaign_name == "Holiday Sale 2024"
        assert events["campaign.status_changed"].changes["status"].new == "PAUSED"


async def test_fingerprints_never_outlive_another_writers_commit(
    tmp_path: Path, stream: bool
) -> None:
    """Two pollers share a state file: a change the other committed is never skipped as seen.

    (A second daemon is refused the file; the other writer here is a bare poller on its
    own connection, as a replica taking over an account would be on a shared database.)
    """
    import aiohttp

    from monitor.daemon import open_runtime
    from monitor.poll import Poller
    from monitor.wiring import make_client

    async with rig(tmp_path, stream=stream) as r:
        config = r.config
        other = await open_store(tmp_path / "state.db")
        try:
            async with open_runtime(config) as a, aiohttp.ClientSession() as session:
                client = await make_client(config, session, other)
                b = Poller(config, client=client, store=other, notifiers={})
                await a.poller.run_cycle()  # baseline; `a` now holds hashes of these bytes
                r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"], bump=False)
                assert (await b.run_cycle()).events == 1
                # Back to the very bytes `a` hashed: only the stored state says it changed.
                r.sim.world.approve_ad(ADS[0], bump=False)
                assert (await a.poller.run_cycle()).events == 1
        finally:
            await other.close()
        store = await open_store(tmp_path / "state.db")
        try:
            types = [e.type for e in reversed(await store.events())]
        finally:
            await store.close()
        assert types == ["ad.rejected", "ad.approved"]


async def test_listing_out_of_order_falls_back_to_the_whole_snapshot(tmp_path: Path) -> None:
    """A listing that ignores `order` is still diffed correctly (against the whole snapshot)."""
    async with rig(tmp_path, stream=True) as r:
        await run_once(r.config)
        r.sim.add_fault(kind="unordered", path="/v5/ad_accounts/*/ads")
        r.sim.world.reject_ad(ADS[3], reasons=["HASHTAGS"])
        r.sim.world.remove(ADS[1])
        assert await run_once(r.config) == EXIT_OK
        store = await open_store(tmp_path / "state.db")
        try:
            types = {e.entity_id: e.type for e in await store.events()}
        finally:
            await store.close()
        assert types == {ADS[3]: "ad.rejected", ADS[1]: "ad.removed"}


async def test_listed_accounts_are_named_in_messages_and_status(tmp_path: Path) -> None:
    """With an explicit ad_accounts list, messages and `pinmon status` show the account's
    name (looked up once), not only its id."""
    from monitor.status import status_report

    async with rig(tmp_path) as r:
        assert r.config.pinterest.ad_accounts == (ACCOUNT,)
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        await run_once(r.config)
        (message,) = r.messages()
        assert "**Account:** Acme Home & Living" in message["message"]
        store = await open_store(tmp_path / "state.db")
        try:
            report = await status_report(store, now=0.0)
        finally:
            await store.close()
        assert [a["name"] for a in report["accounts"]] == ["Acme Home & Living"]


def _listings(r: Any, kind: str) -> int:
    """Requests for one kind's listing (first pages), lookups by id aside."""
    return sum(
        1
        for q in r.sim.requests
        if q.path.endswith(f"/{kind}")
        and q.param("bookmark") is None
        and not any(k.endswith("_ids") for k, _ in q.query)
    )


async def test_polled_parents_name_events_without_extra_requests(tmp_path: Path) -> None:
    """With campaigns and ad groups polled, an ad's event is named from their snapshot:
    the cycle costs exactly one listing per kind, no name lookups."""
    async with rig(tmp_path) as r:
        r.write(extra_monitor='entities = ["ads", "campaigns", "ad_groups"]', page_size=250)
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        before = len(r.sim.requests)
        assert await run_once(r.config) == EXIT_OK
        cycle = r.sim.requests[before:]
        paths = sorted(q.path.rsplit("/", 1)[-1] for q in cycle if "/ad_accounts/" in q.path)
        assert paths == ["ad_groups", "ads", "campaigns"]
        (message,) = r.messages()
        assert "Holiday Sale 2024" in message["message"]
        assert "Gift Shoppers" in message["message"]


async def test_name_lookups_are_cached_across_cycles(tmp_path: Path) -> None:
    """Parents not polled are listed once for the first event that needs them, then cached."""
    from monitor.daemon import open_runtime

    async with rig(tmp_path) as r:
        async with open_runtime(r.config) as rt:
            await rt.poller.run_cycle()
            for ad in ADS[:3]:
                r.sim.world.reject_ad(ad, reasons=["HASHTAGS"])
                await rt.poller.run_cycle()
        assert (_listings(r, "campaigns"), _listings(r, "ad_groups")) == (1, 1)
