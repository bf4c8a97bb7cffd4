"""`pinmon routes test`: the match trace, route by route, and its exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Route
from monitor.daemon import run_once
from monitor.router import match_routes
from monitor.routetest import sample_event, trace
from tests.harness import ACCOUNT, CAMPAIGN, rig
from tests.test_web_cli import cli
from tests.web_rig import REJECTED

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def test_trace_agrees_with_the_router_and_says_why() -> None:
    """Each route's criteria with ✓/✗, and who receives: exactly match_routes' answer,
    an earlier continue = false and an unused fallback explained."""
    routes = (
        Route(name="paused", events=("ad.status_changed",), when={"status": ("PAUSED",)}),
        Route(name="rejections", events=("ad.rejected",), campaigns=("7",), continue_=False),
        Route(name="later", events=("ad.*",)),
        Route(name="rest", fallback=True),
    )
    event = sample_event("ad.rejected", account_id="1", ad_id="5", campaign_id="7")
    traces = trace(event, routes)
    assert [t.route for t in traces if t.receives] == [r.name for r in match_routes(event, routes)]
    by_name = {t.route: t for t in traces}
    assert not by_name["paused"].receives
    assert [(c.name, c.ok) for c in by_name["paused"].checks] == [
        ("events", False),
        ("when.status", False),
    ]
    assert by_name["rejections"].receives
    assert by_name["later"].note == "an earlier route has continue = false"
    assert by_name["rest"].note == "fallback: another route took it"
    other = sample_event("ad.rejected", account_id="1", ad_id="5", campaign_id="8")
    assert [t.route for t in trace(other, routes) if t.receives] == ["later"]


async def test_routes_test_traces_an_ad_and_exits_by_whether_it_would_be_sent(
    tmp_path: Path,
) -> None:
    """An ad in the state: the route that wants another campaign says so; a mute on the
    ad's campaign makes the verdict 1; an unknown type is a usage error."""
    async with rig(tmp_path) as r:
        r.path.write_text(
            r.path.read_text()
            + f'''
[[routes]]
name = "other-campaign"
events = ["ad.rejected"]
campaigns = ["1"]
apprise = ["{r.sink.url("/other", scheme="json")}"]
'''
        )
        await run_once(r.config)
        r.sim.world.reject_ad(REJECTED, reasons=["HASHTAGS"])
        await run_once(r.config)
    sent = cli(r.path, "routes", "test", "--type", "ad.rejected", "--ad", REJECTED)
    assert sent.returncode == 0, sent.stderr
    assert "route everything: RECEIVES (1 target)" in sent.stdout
    assert "route other-campaign: no (1 target)" in sent.stdout
    assert f"  ✗ campaigns: {CAMPAIGN} in 1" in sent.stdout
    assert "  ✓ events: ad.rejected against ad.rejected" in sent.stdout
    assert cli(r.path, "mute", "--campaign", CAMPAIGN, "--for", "1h").returncode == 0
    muted = cli(r.path, "routes", "test", "--type", "ad.rejected", "--ad", REJECTED)
    assert muted.returncode == 1
    assert f"muted by campaign {CAMPAIGN}" in muted.stdout
    sample = cli(r.path, "routes", "test", "--type", "campaign.created", "--account", ACCOUNT)
    assert sample.returncode == 0
    assert cli(r.path, "routes", "test", "--type", "ad.nonsense").returncode == 2
    assert cli(r.path, "routes", "test", "--type", "ad.rejected", "--ad", "42").returncode == 2
