"""The board's Routes and Trends pages, its pagination, and its 400 pages for bad queries."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest

from monitor.daemon import run_once
from monitor.mutes import Mute
from monitor.routetest import format_trace, sample_event, trace
from monitor.store.sqlite import open_store
from monitor.web.app import CSP
from monitor.web.now import now_view
from tests.harness import ACCOUNT, ADS, CAMPAIGN, TOKEN
from tests.web_rig import IN_REVIEW, REJECTED, board, filled, with_routes

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

_SECRETS = (
    "s3cr3tPathToken0123",
    "qwertyuiop",
    "Zsecretsecretsecret0123",
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    TOKEN,
)


async def test_routes_page_shows_the_tree_with_masked_targets(tmp_path: Path) -> None:
    """Every route in config order with its criteria, flags and targets by masked label;
    no URL secret anywhere on the page."""
    async with filled(tmp_path) as f:
        routes = with_routes(f.rig)
        async with board(f.store, routes=routes) as client:
            response = await client.get("/routes")
            html = await response.text()
            assert response.status == 200
            assert response.headers["Content-Security-Policy"] == CSP
            tree = html.split('id="routes"')[1]
            assert tree.index("everything") < tree.index("big-spenders") < tree.index("leftovers")
            assert "campaigns:</span> 999" in tree
            assert "fallback" in tree
            assert "hooks.example.com" in tree  # the host shows, its token does not
            assert "slack://" in tree
            for secret in _SECRETS:
                assert secret not in html, secret


async def test_route_tester_explains_a_non_match_as_the_cli_does(tmp_path: Path) -> None:
    """Testing ad.rejected for the rejected ad: the page names each criterion met or not
    (the campaign that is not 999), which routes receive it, the same verdicts and
    details as `pinmon routes test`; a mute on its campaign says nothing is sent."""
    async with filled(tmp_path) as f:
        routes = with_routes(f.rig)
        async with board(f.store, routes=routes) as client:
            html = await (await client.get(f"/routes?type=ad.rejected&ad={REJECTED}")).text()
            table = html.split('id="trace"')[1].split("</table>")[0]
            rows = {r.split("<strong>")[1].split("</strong>")[0]: r for r in table.split("<tr")[2:]}
            assert 'class="receives"' in rows["everything"]
            assert 'class="skipped"' in rows["big-spenders"]
            assert f"{CAMPAIGN} in 999" in rows["big-spenders"]
            assert "not met:</span> campaigns" in rows["big-spenders"]
            assert "fallback: another route took it" in rows["leftovers"]
            assert "Would be sent" in html
            # The CLI's trace of the same event: the same details, route by route.
            event = sample_event(
                "ad.rejected", account_id=ACCOUNT, ad_id=REJECTED, campaign_id=CAMPAIGN
            )
            for t in trace(event, routes):
                for c in t.checks:
                    if c.name != "fields":
                        assert c.detail in rows[t.route], (t.route, c.detail)
            assert "route big-spenders: no" in format_trace(event, trace(event, routes), None)
            await f.store.set_mute(Mute("campaign", CAMPAIGN, until=4e9, created_at=0.0))
            html = await (await client.get(f"/routes?type=ad.rejected&ad={REJECTED}")).text()
            assert "Muted: nothing is sent" in html
            assert '<span class="pill">muted</span>' in html
            sample = await client.get(
                f"/routes?type=ad.approved&account={ACCOUNT}&campaign=999&fields=review_status"
            )
            html = await sample.text()
            table = html.split('id="trace"')[1].split("</table>")[0]
            spenders = table.split("big-spenders")[1].split("</tr>")[0]
            assert "not met:</span> events: <span" in spenders
            assert 'met:</span> campaigns: <span class="detail">999 in 999' in spenders


@pytest.mark.parametrize(
    "query",
    [
        "/routes?type=ad.nonsense&ad=1",
        "/routes?type=ad.rejected&ad=12ab",
        "/routes?type=ad.rejected",
        "/routes?type=ad.rejected&account=1&fields=status;drop",
        "/?page=0",
        "/?page=abc",
        "/?review_page=100001",
        "/?sort=drop",
        "/deliveries?page=-1",
        "/deliveries?target=a%20b",
        "/deliveries?route=" + "r" * 201,
        "/trends?days=9",
    ],
)
async def test_bad_query_values_get_a_400_page(tmp_path: Path, query: str) -> None:
    """A malformed query value answers 400 with the board's page, never a 500."""
    async with filled(tmp_path) as f, board(f.store, routes=f.rig.config.routes) as client:
        response = await client.get(query)
        assert response.status == 400, query
        assert "Bad request" in await response.text()
        assert response.headers["Content-Security-Policy"] == CSP


async def test_route_tester_unknown_ad_is_a_404_page(tmp_path: Path) -> None:
    """An ad the state does not hold answers 404 with words, not a trace."""
    async with filled(tmp_path) as f, board(f.store, routes=f.rig.config.routes) as client:
        response = await client.get("/routes?type=ad.rejected&ad=123")
        assert response.status == 404
        assert "No ad 123 in the state" in await response.text()


async def test_trends_charts_are_inline_svg_with_words(tmp_path: Path) -> None:
    """Trends: per-day decisions and time in review as inline SVG with a title, a
    description and a table of the same numbers; nothing CSP would block."""
    async with filled(tmp_path) as f:
        # An approval after a pending spell, so there is a time in review to chart.
        f.rig.sim.world.approve_ad(IN_REVIEW)
        await run_once(f.rig.config)
        async with board(f.store) as client:
            response = await client.get("/trends")
            html = await response.text()
        assert response.status == 200
        assert html.count("<svg") == 2
        assert "<title>Review decisions per day</title>" in html
        assert "<desc>Over the last 31 days: 1 rejections and 1 approvals" in html
        assert "style=" not in html
        assert "<script>" not in html
        rows = html.split('id="per-day-table"')[1].split("</table>")[0]
        assert rows.count("<tr>") == 32  # a header and 31 days
        review = html.split('id="review-table"')[1].split("</table>")[0]
        assert sum(int(n) for n in re.findall(r'<td class="num">(\d+)</td>', review)) == 1


def _bench() -> ModuleType:
    path = Path(__file__).parent / "benchmarks" / "bench_web.py"
    spec = importlib.util.spec_from_file_location("bench_web", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_web"] = module
    spec.loader.exec_module(module)
    return module


async def test_now_in_sql_agrees_with_a_full_scan_and_pages(tmp_path: Path) -> None:
    """On the benchmark's state (small): the Now page's rejected and in-review ads are
    exactly those a scan of every stored ad finds, paged 50 at a time, longest first."""
    bench = _bench()
    path = tmp_path / "state.db"
    bench.build(path, ads=3000, events=12_000)
    with sqlite3.connect(path) as conn:
        blobs = conn.execute("SELECT entity_id, blob FROM entities").fetchall()
    conn.close()
    rejected = {i for i, b in blobs if b"REJECTED" in b}
    pending = {i for i, b in blobs if b"PENDING" in b}
    store = await open_store(path)
    try:
        first = await now_view(store)
        assert first.rejected_page.total == len(rejected)
        assert first.review_page.total == len(pending)
        seen: list[str] = []
        for n in range(1, first.rejected_page.pages + 1):
            view = await now_view(store, page=n)
            assert len(view.rejected) <= 50
            seen += [r.ad_id for r in view.rejected]
        assert sorted(seen) == sorted(rejected)
        assert len(seen) == len(set(seen))
        dated = [r.since for r in first.rejected if r.since is not None]
        assert dated == sorted(dated)
        assert all(r.campaign_name and r.ad_group_name for r in first.rejected)
        last = await now_view(store, page=10_000)  # past the end: the last page
        assert last.rejected_page.number == first.rejected_page.pages
        named = await now_view(store, sort="name")
        names = [(r.name or "").lower() for r in named.rejected]
        assert names == sorted(names)
    finally:
        await store.close()


async def test_now_is_never_older_than_the_last_commit(tmp_path: Path) -> None:
    """One board, asked again after a cycle: the new rejection is listed (the kept
    standing moved with the commit), and a failed poll shows at once (no event)."""
    async with filled(tmp_path) as f, board(f.store) as client:
        html = await (await client.get("/")).text()
        assert "Holiday Ad 3" not in html.split('id="rejected"')[1]
        f.rig.sim.world.reject_ad(ADS[3], reasons=["HASHTAGS"])
        await run_once(f.rig.config)
        html = await (await client.get("/?sort=name")).text()
        assert "Holiday Ad 3" in html.split('id="rejected"')[1].split("</table>")[0]
        await f.store.record_poll(ACCOUNT, name=None, ok=False, at=1.0, error="HTTP 503")
        html = await (await client.get("/?sort=name")).text()
        assert '<span class="bad">failing</span>' in html


@pytest.mark.parametrize(
    ("spans_s", "expected"),
    [
        ([], [0] * 9),
        ([0.0, 3599.0, 3600.0], [2, 1, 0, 0, 0, 0, 0, 0, 0]),
        ([86400.0 * 7, 86400.0 * 30], [0, 0, 0, 0, 0, 0, 0, 0, 2]),
    ],
)
def test_review_histogram_buckets(spans_s: list[float], expected: list[int]) -> None:
    """Each span counts in the bucket whose upper bound is above it; the last is open."""
    from monitor.web.charts import review_histogram

    assert [n for _, n in review_histogram(spans_s)] == expected


def test_bar_chart_is_escaped_svg_with_whole_number_ticks() -> None:
    """Labels and names are escaped; the axis counts in whole numbers; no style attribute."""
    from monitor.web.charts import Series, bar_chart, quantile

    svg = str(
        bar_chart(["<b>", "x"], [Series("a&b", "bar-ok", [3, 9])], title="T<", description="D>")
    )
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "a&amp;b" in svg
    assert "<title>T&lt;</title><desc>D&gt;</desc>" in svg
    ticks = re.findall(r'class="axis" text-anchor="end">([\d,]+)<', svg)
    assert ticks == ["0", "5", "10", "15", "20"]
    assert "style=" not in svg
    assert quantile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert quantile([], 0.9) is None


async def test_now_shows_each_rejected_ads_stored_spend(tmp_path: Path) -> None:
    """The rejected list says what each ad spent in its last 7 days, from the figures
    ``[analytics]`` stored, and "no figures" where there are none."""
    from monitor.store import AdSpend

    async with filled(tmp_path) as f, board(f.store) as client:
        html = await (await client.get("/")).text()
        rejected = html.split('id="rejected"')[1].split("</table>")[0]
        assert "Spent, 7 days" in rejected
        assert "no figures" in rejected
        figures = AdSpend(ACCOUNT, REJECTED, 1_234_560_000, 9, 1, "EUR", "d1", "d7", 5.0)
        await f.store.save_ad_spend([figures])
        html = await (await client.get("/")).text()
        row = html.split(f'id="ad-{REJECTED}"')[1].split("</tr>")[0]
    assert "1,234.56 EUR" in row
