"""The landing-page check (``[landing_pages]``): what a rejection's page answers, and pages
that go down — against local HTTP servers only (the sink answering as scripted)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.config.types import LandingConfig
from monitor.daemon import EXIT_OK, run_once
from monitor.landing import LandingChecker
from monitor.notify.guard import guarded_session
from tests.harness import ADS, Rig, rig
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HOUR = 3600.0


async def check(sink: HttpSink, path: str, **config: object) -> object:
    async with guarded_session() as session:
        checker = LandingChecker(LandingConfig(**config), session)  # type: ignore[arg-type]
        return await checker.check(sink.url(path))


async def test_a_page_that_answers_and_one_that_does_not() -> None:
    async with HttpSink() as sink:
        sink.respond("/ok", status=200)
        sink.respond("/gone", status=404)
        ok = await check(sink, "/ok")
        gone = await check(sink, "/gone")
    assert (ok.up, ok.status, ok.error) == (True, 200, None)  # type: ignore[attr-defined]
    assert (gone.up, gone.status) == (False, 404)  # type: ignore[attr-defined]
    # A 404 to HEAD is asked again with GET (servers that do not do HEAD say 404 or 405).
    assert [r.method for r in sink.requests if r.path == "/gone"] == ["HEAD", "GET"]


async def test_redirects_are_followed_by_hand_within_the_limit() -> None:
    async with HttpSink() as sink:
        sink.respond("/a", status=302, headers={"Location": "/b"})
        sink.respond("/b", status=301, headers={"Location": sink.url("/c")})
        sink.respond("/c", status=200)
        followed = await check(sink, "/a")
        too_many = await check(sink, "/a", max_redirects=1)
    assert (followed.status, followed.redirects) == (200, 2)  # type: ignore[attr-defined]
    assert followed.final_url == sink.url("/c")  # type: ignore[attr-defined]
    assert too_many.up is False  # type: ignore[attr-defined]
    assert too_many.error == "more than 1 redirects"  # type: ignore[attr-defined]


async def test_a_redirect_to_a_metadata_address_is_refused_without_connecting() -> None:
    async with HttpSink() as sink:
        sink.respond("/evil", status=302, headers={"Location": "http://169.254.169.254/latest/"})
        sink.respond("/file", status=302, headers={"Location": "file:///etc/passwd"})
        evil = await check(sink, "/evil")
        local = await check(sink, "/file")
    assert evil.up is False  # type: ignore[attr-defined]
    assert "refused" in evil.error  # type: ignore[attr-defined]
    assert "not an http(s) URL" in local.error  # type: ignore[attr-defined]


async def test_a_page_slower_than_the_timeout_is_down_and_the_check_returns_on_time() -> None:
    timeout_s = 0.5
    async with HttpSink() as sink:
        sink.respond("/slow", status=200, delay_s=20 * timeout_s)
        started = time.monotonic()
        slow = await check(sink, "/slow", timeout_s=timeout_s)
        took = time.monotonic() - started
    assert slow.up is False  # type: ignore[attr-defined]
    assert slow.error == "no answer within 0.5 s"  # type: ignore[attr-defined]
    assert took < 10 * timeout_s


def _landing_config(r: Rig, table: str, *, watch: bool = False) -> None:
    with r.path.open("a") as config:
        config.write(f"\n[landing_pages]\n{table}\n")
        if watch:
            config.write('\n[monitor.watch]\nads = ["destination_url"]\n')


async def test_a_landing_page_rejection_says_what_the_page_answers(tmp_path: Path) -> None:
    """LANDING_PAGE_BROKEN, the page at the ad's destination_url answering 404 (looked up
    by id: the URL is not a watched field): the alert says so; a rejection for another
    reason checks nothing."""
    async with rig(tmp_path) as r:
        _landing_config(r, "on_rejection = true")
        assert await run_once(r.config) == EXIT_OK
        r.sink.respond("/landing", status=404)
        r.sim.world.update(ADS[0], destination_url=r.sink.url("/landing"))
        r.sim.world.update(ADS[1], destination_url=r.sink.url("/other"))
        r.sim.world.reject_ad(ADS[0], reasons=["LANDING_PAGE_BROKEN"])
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        digest = r.messages()[-1]["message"]
        pages = [q.path for q in r.sink.requests if q.path in ("/landing", "/other")]
    assert "the landing page answers 404 now" in digest
    assert pages == ["/landing", "/landing"]  # HEAD, then GET; the other ad's page never


async def test_an_active_ads_page_going_down_is_reported_once_then_again_after_it_was_up(
    tmp_path: Path,
) -> None:
    t0 = time.time()
    async with rig(tmp_path) as r:
        _landing_config(r, 'check_every = "1h"', watch=True)
        r.sink.respond("/shop", status=200)
        r.sim.world.update(ADS[2], destination_url=r.sink.url("/shop"))
        assert await run_once(r.config, now=lambda: t0) == EXIT_OK  # baseline, page up
        base = len(r.messages())
        r.sink.respond("/shop", status=503)
        assert await run_once(r.config, now=lambda: t0 + 30) == EXIT_OK  # not its time
        assert len(r.messages()) == base
        assert await run_once(r.config, now=lambda: t0 + HOUR) == EXIT_OK
        (down,) = r.messages()[base:]
        assert down["title"] == "🔗 Landing page down for ad: Holiday Ad 2"
        assert "answers 503" in down["message"]
        assert await run_once(r.config, now=lambda: t0 + 2 * HOUR) == EXIT_OK
        assert len(r.messages()) == base + 1  # once per stretch
        r.sink.respond("/shop", status=200)
        assert await run_once(r.config, now=lambda: t0 + 3 * HOUR) == EXIT_OK
        r.sink.respond("/shop", status=503)
        assert await run_once(r.config, now=lambda: t0 + 4 * HOUR) == EXIT_OK
        assert len(r.messages()) == base + 2  # down again: a new report


async def test_checking_active_pages_needs_the_url_watched(tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.errors import ConfigError

    async with rig(tmp_path) as r:
        _landing_config(r, 'check_every = "1h"')
        with pytest.raises(ConfigError) as info:
            load_config(r.path)
    assert "landing_pages.check_every" in str(info.value)
    assert "destination_url" in str(info.value)


def test_one_rejection_shows_the_page_and_a_hostile_url_stays_text() -> None:
    from monitor.events import Event
    from monitor.render import render

    page = {"url": "https://x.test/@everyone <!channel>", "status": 404, "final_url": "",
            "elapsed_s": 0.2, "checked_at": 1_800_000_000.0, "error": None, "redirects": 0,
            "up": False}  # fmt: skip
    event = Event(
        id="e", type="ad.rejected", entity="ad", entity_id="1", ad_account_id="2",
        detected_at=1_800_000_000.0, name="Ad",
        state={"review_status": "REJECTED", "rejected_reasons": ["LANDING_PAGE_BROKEN"]},
        landing_page=page,
    )  # fmt: skip
    body = render([event]).body
    assert "**Landing page:**" in body
    assert "answers 404" in body
    assert "@everyone" not in body  # a zero-width space breaks the mention
    assert "<!channel>" not in body
