"""The daily recap (``recap = "09:00 Europe/Berlin"``): once a day per route, what stands.

Through `run_once` on an injected clock against the simulator, a real SQLite file and
apprise ``json://`` into a local sink; the slot arithmetic on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import load_config
from monitor.daemon import EXIT_OK, run_once
from monitor.errors import ConfigError
from monitor.recap import slot_after, slot_before
from tests.harness import ADS, Rig, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

BERLIN = ZoneInfo("Europe/Berlin")
NINE = (9, 0, "Europe/Berlin")


def at(day: datetime, hh: int, mm: int = 0) -> float:
    return day.replace(hour=hh, minute=mm).timestamp()


def test_slots_are_local_times_across_daylight_saving_changes() -> None:
    winter = datetime(2026, 12, 3, 8, 59, tzinfo=BERLIN).timestamp()
    assert slot_after(winter, NINE) == datetime(2026, 12, 3, 9, 0, tzinfo=BERLIN).timestamp()
    assert slot_before(winter, NINE) == datetime(2026, 12, 2, 9, 0, tzinfo=BERLIN).timestamp()
    # The night clocks go forward (29 March 2026): 09:00 comes 23 hours after the last.
    before = datetime(2026, 3, 28, 9, 0, tzinfo=BERLIN).timestamp()
    assert slot_after(before, NINE) - before == 23 * 3600
    # A time the change skips (02:30 that night) still comes once.
    night = (2, 30, "Europe/Berlin")
    skipped = slot_after(datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN).timestamp(), night)
    assert datetime.fromtimestamp(skipped, BERLIN).date().isoformat() == "2026-03-29"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"9am"', 'expected "HH:MM Area/City"'),
        ('"25:00 Europe/Berlin"', 'expected "HH:MM Area/City"'),
        ('"09:00 Mars/Olympus"', "unknown time zone 'Mars/Olympus'"),
    ],
)
async def test_a_bad_recap_is_a_config_error_naming_the_key(
    tmp_path: Path, value: str, reason: str
) -> None:
    async with rig(tmp_path) as r:
        r.path.write_text(r.path.read_text() + f"recap = {value}\n")
        with pytest.raises(ConfigError) as info:
            load_config(r.path)
        assert "routes[0].recap" in str(info.value)
        assert reason in str(info.value)


def _morning_route(r: Rig) -> None:
    """A route that receives nothing but its recap, at 09:00 Berlin time."""
    with r.path.open("a") as config:
        config.write(
            '\n[[routes]]\nname = "morning"\nevents = []\nrecap = "09:00 Europe/Berlin"\n'
            f'apprise = ["{r.sink.url("/morning", scheme="json")}"]\n'
        )


def morning(r: Rig) -> list[dict[str, str]]:
    return [q.json for q in r.sink.requests if q.path == "/morning"]


async def test_one_recap_a_day_with_what_is_rejected_fixed_and_stuck(tmp_path: Path) -> None:
    """Day 1 at 09:05: one ad rejected, one fixed since the first run, an ad in review
    for a day not yet stuck; not again at 09:10. Day 2 at 09:02: still the rejected ad,
    nothing fixed since day 1's recap, the ad in review now stuck."""
    day = datetime.now(BERLIN).replace(second=0, microsecond=0) - timedelta(days=3)
    async with rig(tmp_path) as r:
        _morning_route(r)
        assert await run_once(r.config, now=lambda: at(day, 7)) == EXIT_OK  # baseline
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sim.world.reject_ad(ADS[1], reasons=["CLICKBAIT"])
        assert await run_once(r.config, now=lambda: at(day, 8)) == EXIT_OK
        r.sim.world.approve_ad(ADS[1])
        r.sim.world.set_pending(ADS[2], at=at(day, 8, 30))
        assert await run_once(r.config, now=lambda: at(day, 8, 40)) == EXIT_OK
        assert morning(r) == []  # its time has not come
        assert await run_once(r.config, now=lambda: at(day, 9, 5)) == EXIT_OK
        (first,) = morning(r)
        assert first["title"] == "☀️ Daily recap: 1 ad rejected, 1 fixed"
        body = first["message"]
        assert "Rejected now (1)" in body
        assert "Holiday Ad 0" in body
        assert "Holiday Sale 2024" in body  # the campaign by its name
        assert "Fixed since the last recap (1)" in body
        assert "Holiday Ad 1" in body
        assert "Stuck in review" not in body  # 35 minutes in review is not stuck
        assert "1 account watched" in body
        assert await run_once(r.config, now=lambda: at(day, 9, 10)) == EXIT_OK
        assert len(morning(r)) == 1
        tomorrow = day + timedelta(days=1)
        assert await run_once(r.config, now=lambda: at(tomorrow, 9, 2)) == EXIT_OK
        second = morning(r)[1]
        assert second["title"] == "☀️ Daily recap: 1 ad rejected, 1 stuck in review"
        assert "Fixed since" not in second["message"]
        assert "Holiday Ad 2" in second["message"]
        # Everything else went to the other route; the recap only to its own.
        assert not [m for m in r.messages() if "Daily recap" in m["title"]]


async def test_a_recap_missed_by_hours_is_skipped_and_a_late_one_caught_up(tmp_path: Path) -> None:
    day = datetime.now(BERLIN).replace(second=0, microsecond=0) - timedelta(days=4)
    async with rig(tmp_path) as r:
        _morning_route(r)
        assert await run_once(r.config, now=lambda: at(day, 7)) == EXIT_OK
        assert await run_once(r.config, now=lambda: at(day, 16)) == EXIT_OK  # 7 h late
        assert morning(r) == []
        tomorrow = day + timedelta(days=1)
        assert await run_once(r.config, now=lambda: at(tomorrow, 11)) == EXIT_OK  # 2 h late
        (recap,) = morning(r)
        assert recap["title"] == "☀️ Daily recap: nothing rejected or stuck"


async def test_the_daemon_sends_a_recap_at_its_time_not_at_the_next_cycle(tmp_path: Path) -> None:
    """A daemon whose cycles are an hour apart: the recap still goes at 09:00 (the clock
    is moved so that 09:00 Berlin is five seconds after start: the daemon counts a new
    recap route from its start, not from the end of its first cycle)."""
    import time

    import anyio

    from monitor.daemon import run_forever

    nine = slot_after(time.time(), NINE)
    offset = nine - 5.0 - time.time()
    async with rig(tmp_path) as r:
        _morning_route(r)
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def daemon() -> None:
                await run_forever(
                    r.config, stop=stop, handle_signals=False, now=lambda: time.time() + offset
                )

            tg.start_soon(daemon)
            with anyio.fail_after(30):
                while not morning(r):
                    await r.sink.wait_for(len(r.sink.requests) + 1, timeout_s=30)
            stop.set()
        (recap,) = morning(r)
        assert recap["title"].startswith("☀️ Daily recap")


async def test_a_recap_puts_the_most_money_at_risk_first_with_the_total(tmp_path: Path) -> None:
    """With spend figures stored at the rejections, the recap lists the ad that spent
    most first (not the longest rejected) and opens with the money at risk in all."""
    day = datetime.now(BERLIN).replace(second=0, microsecond=0) - timedelta(days=3)
    async with rig(tmp_path) as r:
        r.analytics = 'enabled = true\nwait = "10s"'
        r.write(page_size=250)
        _morning_route(r)
        r.sim.analytics.daily[ADS[0]] = (10_000_000, 100, 3)  # 10 USD a day
        r.sim.analytics.daily[ADS[1]] = (200_000_000, 2_000, 60)  # 200 USD a day
        assert await run_once(r.config, now=lambda: at(day, 7)) == EXIT_OK  # baseline
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: at(day, 8)) == EXIT_OK
        r.sim.world.reject_ad(ADS[1], reasons=["CLICKBAIT"])
        assert await run_once(r.config, now=lambda: at(day, 8, 30)) == EXIT_OK
        assert await run_once(r.config, now=lambda: at(day, 9, 5)) == EXIT_OK
        (recap,) = morning(r)
    body = recap["message"]
    assert "**Money at risk:** 1,470.00 USD spent in the last 7 days" in body
    assert body.index("Holiday Ad 1") < body.index("Holiday Ad 0")  # 1,400 before 70
    assert "1,400.00 USD spent in 7 days" in body
    assert "70.00 USD spent in 7 days" in body
