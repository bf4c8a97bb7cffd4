"""The review clock: ``ad.review_stuck`` once per stretch in review, "rejected again".

Through the real daemon (`run_once` on an injected clock) against the simulator, a real
SQLite file and apprise ``json://`` into a local sink; the pure rules on their own.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.daemon import EXIT_OK, run_once
from monitor.events import Change, Event
from monitor.render.words import day_text
from monitor.review_clock import PLAUSIBLE_S, observe, rejected_again, review_since
from monitor.store import AdReview
from monitor.store.sqlite import open_store
from tests.harness import ACCOUNT, ADS, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HOUR = 3600.0
DAY = 86_400.0
#: Three days ago on the hour: the simulator's stamps set "at" moments from here on are
#: in the past of the real clock, so they are trusted as versions.
T0 = float(int(time.time()) // 3600 * 3600) - 3 * DAY


def test_an_updated_time_is_believed_only_when_plausible() -> None:
    assert review_since(int(T0 - HOUR), T0) == T0 - HOUR
    assert review_since(int(T0 + HOUR), T0) == T0  # from the future: not believed
    assert review_since(int(T0 - PLAUSIBLE_S - 1), T0) == T0  # a month old: not believed
    assert review_since(0, T0) == T0
    assert review_since(None, T0) == T0


def test_a_stretch_starts_and_ends_with_the_state_and_decisions_are_dated() -> None:
    row = AdReview("acc", "1")
    pending = {"review_status": "PENDING", "summary_status": "PENDING"}
    row = observe(row, pending, int(T0 - HOUR), T0)
    assert row.pending_since == T0 - HOUR
    assert observe(row, pending, int(T0), T0 + 5).pending_since == T0 - HOUR  # same stretch
    rejected = observe(row, {"review_status": "REJECTED"}, None, T0 + 10)
    assert (rejected.pending_since, rejected.rejected_at) == (None, T0 + 10)
    assert rejected_again(rejected) is None  # rejected once: not "again"
    approved = observe(rejected, {"review_status": "APPROVED"}, None, T0 + 20)
    assert approved.approved_at == T0 + 20
    assert rejected_again(approved) == T0 + 10  # a rejection now would be one again


def _rejected(ad: str) -> Event:
    return Event(id="e", type=f"ad.{Change.REJECTED}", entity="ad", entity_id=ad,
                 ad_account_id=ACCOUNT, detected_at=T0)  # fmt: skip


async def test_an_ad_in_review_for_over_a_day_is_reported_once_per_stretch(
    tmp_path: Path,
) -> None:
    """Sent back to review at T0: nothing at +23 h; ad.review_stuck at +25 h saying how
    long; not again at +30 h; approved, then back in review: a new stretch, reported again
    a day later, with a new event id."""
    async with rig(tmp_path) as r:
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK  # the baseline
        r.sim.world.set_pending(ADS[0], at=T0)
        for hours in (0, 23):
            assert await run_once(r.config, now=lambda h=hours: T0 + h * HOUR) == EXIT_OK
        before = len(r.messages())
        assert await run_once(r.config, now=lambda: T0 + 25 * HOUR) == EXIT_OK
        (stuck,) = r.messages()[before:]
        assert stuck["title"] == "⏳ Ad stuck in review: Holiday Ad 0"
        assert "In review for:** 25 h" in stuck["message"]
        assert "Holiday Sale 2024" in stuck["message"]  # the campaign by its name
        assert await run_once(r.config, now=lambda: T0 + 30 * HOUR) == EXIT_OK
        assert len(r.messages()) == before + 1  # once per stretch
        r.sim.world.approve_ad(ADS[0], at=T0 + 31 * HOUR)
        assert await run_once(r.config, now=lambda: T0 + 31 * HOUR) == EXIT_OK
        r.sim.world.set_pending(ADS[0], at=T0 + 32 * HOUR)
        assert await run_once(r.config, now=lambda: T0 + 32 * HOUR) == EXIT_OK
        assert await run_once(r.config, now=lambda: T0 + 57 * HOUR) == EXIT_OK
        store = await open_store(tmp_path / "state.db")
        try:
            events = [e for e in await store.events(limit=100) if e.type == "ad.review_stuck"]
        finally:
            await store.close()
        assert len(events) == 2
        assert len({e.id for e in events}) == 2
        assert sorted(e.in_review_since for e in events) == [T0, T0 + 32 * HOUR]


async def test_a_bogus_stamp_does_not_make_an_ad_stuck_at_once(tmp_path: Path) -> None:
    """An ad in review whose updated_time is decades old (or in the future) counts from
    when pinmon saw it, not from the stamp."""
    async with rig(tmp_path) as r:
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.set_pending(ADS[1], at=1_000.0)
        r.sim.world.set_pending(ADS[2], at=T0 + 10 * DAY)
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        before = len(r.messages())
        assert await run_once(r.config, now=lambda: T0 + 2 * HOUR) == EXIT_OK
        assert len(r.messages()) == before
        assert await run_once(r.config, now=lambda: T0 + DAY + 60) == EXIT_OK
        titles = [m["title"] for m in r.messages()[before:]]
        assert titles == ["⏳ 2 ads stuck in review in Acme Home & Living"]


async def test_review_stuck_after_zero_turns_it_off(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.write(extra_monitor='review_stuck_after = "0s"')
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.set_pending(ADS[0], at=T0)
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        before = len(r.messages())
        assert await run_once(r.config, now=lambda: T0 + 3 * DAY) == EXIT_OK
        assert not [m for m in r.messages()[before:] if "stuck" in m["title"]]


async def test_a_rejection_after_an_approval_of_an_earlier_one_reads_rejected_again(
    tmp_path: Path,
) -> None:
    """Rejected, fixed and approved, rejected again: three messages, the last saying
    "rejected again" and when the first rejection was; each its own event."""
    async with rig(tmp_path) as r:
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        r.sim.world.approve_ad(ADS[0])
        assert await run_once(r.config, now=lambda: T0 + HOUR) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["CLICKBAIT"])
        assert await run_once(r.config, now=lambda: T0 + 2 * HOUR) == EXIT_OK
        titles = [m["title"] for m in r.messages()]
        assert titles[-3:] == [
            "🚫 Ad rejected: Holiday Ad 0",
            "✅ Resolved: ad approved again: Holiday Ad 0",
            "🚫 Ad rejected again: Holiday Ad 0",
        ]
        assert f"Rejected before:** {day_text(T0)}" in r.messages()[-1]["message"]
        store = await open_store(tmp_path / "state.db")
        try:
            rejections = [e for e in await store.events(limit=100) if e.type == "ad.rejected"]
        finally:
            await store.close()
        assert len({e.id for e in rejections}) == 2
        assert sorted(e.rejected_before_at is not None for e in rejections) == [False, True]


async def test_an_ad_pending_before_the_clock_existed_is_seeded_from_the_snapshot(
    tmp_path: Path,
) -> None:
    """A state whose ads were in review before the clock kept rows (rows removed here, as
    a state from an older pinmon has none): the next cycle seeds them once, dating the
    stretch by the ad's updated_time, so it is reported stuck at once, and only once."""
    async with rig(tmp_path) as r:
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.set_pending(ADS[3], at=T0)
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        import sqlite3

        with sqlite3.connect(tmp_path / "state.db") as conn:
            conn.execute("DELETE FROM ad_reviews")
            conn.execute("DELETE FROM kv WHERE key LIKE 'review_clock.seeded:%'")
        conn.close()
        before = len(r.messages())
        assert await run_once(r.config, now=lambda: T0 + DAY + 60) == EXIT_OK
        assert await run_once(r.config, now=lambda: T0 + DAY + 120) == EXIT_OK
        assert [m["title"] for m in r.messages()[before:]] == [
            "⏳ Ad stuck in review: Holiday Ad 3"
        ]


def test_rejected_again_needs_an_approval_after_the_rejection() -> None:
    assert rejected_again(None) is None
    assert rejected_again(AdReview("a", "1", rejected_at=T0)) is None
    assert rejected_again(AdReview("a", "1", rejected_at=T0, approved_at=T0 - 1)) is None
    assert rejected_again(AdReview("a", "1", rejected_at=T0, approved_at=T0 + 1)) == T0
    assert _rejected("1").rejected_before_at is None
