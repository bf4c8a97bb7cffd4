"""Money at risk (``[analytics]``): rejected ads' spend figures from the ads analytics
endpoint — the simulator's endpoint against the spec, the real daemon end to end into a
local sink, the endpoint slow, failing, hostile or short of quota."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.analytics import window
from monitor.config import load_config
from monitor.daemon import EXIT_OK, run_once
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.pinterest.analytics import (
    CLICKS,
    COLUMNS,
    IMPRESSIONS,
    SPEND,
    Day,
    add_up,
    decode_days,
)
from monitor.render import render
from monitor.simulator import Simulator
from monitor.store import AdSpend
from tests.harness import ACCOUNT, ADS, TOKEN, Rig, rig, small_scenario
from tests.test_simulator_contract import check, spec  # noqa: F401 (a fixture)
from tests.test_store import db_path, opener  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATH = "/ad_accounts/{ad_account_id}/ads/analytics"
DAY = 86_400.0
#: 100.00 a day, 1,000 impressions and 30 clicks a day: 700.00, 7,000 and 210 a week.
DAILY = (100_000_000, 1_000, 30)


def _today() -> date:
    return datetime.now(UTC).date()


def _params(**over: Any) -> list[tuple[str, str]]:
    start, end = window(time.time())
    base: dict[str, Any] = {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "granularity": "DAY",
        "columns": list(COLUMNS),
        "ad_ids": ADS[:2],
    }
    base.update(over)
    out: list[tuple[str, str]] = []
    for key, value in base.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            out.append((key, str(v)))
    return out


async def _ask(sim: Simulator, params: list[tuple[str, str]]) -> tuple[int, Any, Any]:
    url = f"{sim.base_url}/ad_accounts/{ACCOUNT}/ads/analytics"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=params, headers=AUTH) as r,
    ):
        return r.status, await r.json(), r.headers


# -- the simulator's endpoint ----------------------------------------------------------------


async def test_the_simulator_answers_rows_the_spec_describes(spec: dict[str, Any]) -> None:  # noqa: F811
    """A daily report: one row per known ad and day, with AD_ID, DATE and the columns
    asked, valid against AdsAnalyticsResponse; an id the account lacks is left out."""
    async with Simulator(scenario=small_scenario()) as sim:
        status, body, headers = await _ask(sim, _params(ad_ids=[*ADS[:2], "999"]))
    assert status == 200
    check(spec, PATH, "get", 200, body)
    assert len(body) == 2 * 7
    assert {r["AD_ID"] for r in body} == set(ADS[:2])
    assert set(body[0]) == {"AD_ID", "DATE", *COLUMNS}
    assert all(isinstance(r[SPEND], int) and r[SPEND] > 0 for r in body)
    # Its own quota (ads_analytics), apart from the listings' 1,000.
    assert headers["x-ratelimit-limit"] == "300"


async def test_the_analytics_quota_is_its_own() -> None:
    """``[rate_limit] analytics = 2``: the third analytics request of a window is a 429,
    while listings, counted apart, still answer with their own budget."""
    scenario = {**small_scenario(), "rate_limit": {"analytics": 2}}
    async with Simulator(scenario=scenario) as sim:
        answers = [await _ask(sim, _params()) for _ in range(3)]
        url = f"{sim.base_url}/ad_accounts/{ACCOUNT}/ads"
        async with aiohttp.ClientSession() as session, session.get(url, headers=AUTH) as listing:
            listed = (listing.status, listing.headers["x-ratelimit-remaining"])
    assert [a[0] for a in answers] == [200, 200, 429]
    assert [a[2]["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2][1]["code"] == 8
    assert listed == (200, "999")


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"start_date": None}, "start_date is required"),
        ({"granularity": "YEARLY"}, "granularity must be one of"),
        ({"columns": ["SPEND_IN_MICRO_DOLLAR", "TOTAL_SPEND"]}, "'TOTAL_SPEND' is not a reporting"),
        ({"ad_ids": [str(10**11 + i) for i in range(251)]}, "at most 250 ids"),
        ({"ad_ids": None}, "either ad_ids or both campaign_ids and pin_ids"),
        ({"start_date": "2026-1-1"}, "must be a date YYYY-MM-DD"),
        ({"click_window_days": "3"}, "click_window_days must be one of"),
    ],
)
async def test_the_simulator_refuses_what_the_spec_does_not_allow(
    over: dict[str, Any], says: str
) -> None:
    """Each parameter the spec constrains is a 400 with the operation's message when wrong."""
    async with Simulator(scenario=small_scenario()) as sim:
        status, body, _ = await _ask(sim, _params(**over))
    assert status == 400
    assert body["message"].startswith("Invalid ad account ads analytics parameters")
    assert says in body["message"]


async def test_the_simulator_enforces_the_date_range_limits() -> None:
    """Daily data: at most 90 days back and a 90-day range; hourly: 8 days back, 3 days."""
    today = _today()
    cases = {
        (today - timedelta(days=91), today, "DAY"): "more than 90 days back",
        (today - timedelta(days=5), today - timedelta(days=6), "DAY"): "not be before",
        (today - timedelta(days=9), today - timedelta(days=8), "HOUR"): "more than 8 days back",
        (today - timedelta(days=5), today, "HOUR"): "more than 3 days past",
    }
    async with Simulator(scenario=small_scenario()) as sim:
        for (start, end, granularity), says in cases.items():
            params = _params(start_date=start.isoformat(), end_date=end.isoformat(),
                             granularity=granularity)  # fmt: skip
            status, body, _ = await _ask(sim, params)
            assert (status, says in body["message"]) == (400, True), body
        status, _, _ = await _ask(sim, _params(start_date=(today - timedelta(days=90)).isoformat()))
    assert status == 200


# -- adding up what the endpoint says ---------------------------------------------------------


def test_garbage_rows_are_survived_and_never_make_a_figure() -> None:
    """Nulls, negatives, strings, huge numbers, no AD_ID, unknown ids, other dates and
    non-objects: the ad with a bad value has no figures, the others sum what is sane."""
    start, end = date(2026, 11, 26), date(2026, 12, 2)
    good = {"AD_ID": "1", "DATE": "2026-11-30", SPEND: 2_000_000, IMPRESSIONS: 10, CLICKS: 1}
    rows: list[Any] = [
        good,
        {**good, "DATE": "2026-12-01"},
        {**good, "DATE": "2026-12-01"},  # the same day twice counts once
        {**good, "AD_ID": "2", SPEND: None},
        {**good, "AD_ID": "3", SPEND: -1},
        {**good, "AD_ID": "4", IMPRESSIONS: "lots @everyone"},
        {**good, "AD_ID": "5", SPEND: 10**30},
        {**good, "AD_ID": "6", CLICKS: True},
        {k: v for k, v in good.items() if k != "AD_ID"},
        {**good, "AD_ID": "999"},
        {**good, "DATE": "2020-01-01"},
        {**good, "DATE": "<!channel>"},
        "<!channel>",
        None,
        {**good, "AD_ID": 1},
    ]
    report = add_up(rows, ["1", "2", "3", "4", "5", "6", "7"], start, end)
    assert report.totals["1"].spend_micro == 4_000_000
    assert (report.totals["1"].impressions, report.totals["1"].clicks) == (20, 2)
    assert set(report.unusable) == {"2", "3", "4", "5", "6"}
    assert report.totals["7"].spend_micro == 0  # asked, no rows: spent nothing
    assert not set(report.totals) & set(report.unusable)
    # The same answer as a body: one bad row makes it decode row by row, same figures.
    decoded = decode_days(json.dumps(rows).encode())
    assert not any(isinstance(row, Day) for row in decoded)
    assert add_up(decoded, ["1", "2", "3", "4", "5", "6", "7"], start, end) == report


def test_a_sane_answer_decodes_typed_and_adds_up_the_same() -> None:
    """Every row sane: decoded in one typed pass, and summed as the row-by-row path would."""
    start, end = date(2026, 11, 26), date(2026, 12, 2)
    rows = [
        {"AD_ID": str(ad), "DATE": f"2026-11-{day}", SPEND: ad * day, IMPRESSIONS: day,
         CLICKS: ad % 3, "CTR": 0.5}
        for ad in range(1, 6) for day in range(25, 31)
    ] + [{"AD_ID": "1", "DATE": "2026-11-30", SPEND: 7, IMPRESSIONS: 1, CLICKS: 0},  # again
         {"AD_ID": "9", "DATE": "2026-11-30", SPEND: 7, IMPRESSIONS: 1, CLICKS: 0}]  # fmt: skip
    body = json.dumps(rows).encode()
    typed = decode_days(body)
    assert all(isinstance(row, Day) for row in typed)
    asked = ["1", "2", "3", "4", "5", "6"]
    report = add_up(typed, asked, start, end)
    assert report == add_up(json.loads(body), asked, start, end)
    assert report.totals["1"].spend_micro == sum(range(26, 30)) + 7  # the 25th is out, 30th once
    assert report.totals["1"].days == 5
    assert report.totals["6"].spend_micro == 0
    assert not report.unusable


# -- the daemon end to end ---------------------------------------------------------------------


def _analytics(r: Rig, table: str = "", *, repeat: str | None = None, template: str = "") -> None:
    r.analytics = table or "enabled = true"
    r.write(page_size=250)
    if repeat or template:
        text = r.path.read_text()
        extra = (f'repeat_after = "{repeat}"\n' if repeat else "") + template
        r.path.write_text(text.replace('events = ["*"]\n', f'events = ["*"]\n{extra}'))


async def _events(r: Rig) -> list[Event]:
    from monitor.store.factory import open_state

    store = await open_state(str(r.folder / "state.db"))
    try:
        return list(await store.events(limit=1000))
    finally:
        await store.close()


def _analytics_requests(r: Rig) -> list[Any]:
    return [q for q in r.sim.requests if q.path.endswith("/ads/analytics")]


async def test_a_rejection_alert_carries_the_ads_spend(tmp_path: Path) -> None:
    """The alert into the sink says what the ad spent in the 7 days, in the account's
    currency, with impressions, clicks and the daily average."""
    async with rig(tmp_path) as r:
        _analytics(r)
        r.sim.analytics.daily[ADS[0]] = DAILY
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        (asked,) = _analytics_requests(r)
    assert (
        "Spend last 7 days: 700.00 USD · 7,000 impressions · 210 clicks · ~100.00 USD/day"
        in message["message"]
    )
    start, end = window(asked.at)
    assert (asked.param("start_date"), asked.param("end_date")) == (str(start), str(end))
    assert asked.param("granularity") == "DAY"


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"kind": "status_500"}, "analytics failing (500)"),
        ({"kind": "slow", "delay_s": 30.0}, "analytics slow: no figures within 1 s"),
        ({"kind": "status_429"}, "analytics rate-limited (429)"),
    ],
)
async def test_analytics_down_the_alert_arrives_on_time_and_says_so(
    tmp_path: Path, fault: dict[str, Any], says: str
) -> None:
    """Analytics failing, hanging or refusing: the rejection is alerted within ``wait``
    (plus a cycle's own time) and says its figures are unavailable and why."""
    wait_s = 1.0
    async with rig(tmp_path) as r:
        _analytics(r, f'wait = "{wait_s:g}s"')
        t0 = time.monotonic()
        assert await run_once(r.config) == EXIT_OK
        cycle_s = time.monotonic() - t0  # a cycle without figures to wait for
        r.sim.add_fault(path="/v5/ad_accounts/*/ads/analytics", **fault)
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        t1 = time.monotonic()
        assert await run_once(r.config) == EXIT_OK
        took = time.monotonic() - t1
        (message,) = r.messages()
    assert "Spend figures unavailable (" in message["message"]
    assert says in message["message"]
    assert took < wait_s + 4 * cycle_s + wait_s  # the wait, the cycle, a wait's slack


async def test_wait_zero_never_asks_at_alert_time_and_off_never_asks(tmp_path: Path) -> None:
    """``wait = "0s"``: the alert goes at once saying no figures were fetched, with no
    analytics request; ``enabled = false``: no request and no ``spend`` at all."""
    async with rig(tmp_path) as r:
        _analytics(r, 'wait = "0s"')
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        _analytics(r, "enabled = false")
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        first, second = r.messages()
        assert _analytics_requests(r) == []
    assert "Spend figures unavailable (not fetched: the analytics wait is 0)" in first["message"]
    assert "Spend" not in second["message"]


async def test_a_webhook_gets_the_figures_in_the_event(tmp_path: Path) -> None:
    """The signed webhook's JSON is the event, with ``spend`` beside its other fields."""
    async with rig(tmp_path) as r:
        _analytics(r)
        hook = f'webhooks = [{{ url = "{r.sink.url("/hook")}", secret = "whsec_{"x" * 32}" }}]\n'
        r.path.write_text(r.path.read_text().replace('events = ["*"]\n', f'events = ["*"]\n{hook}'))
        r.sim.analytics.daily[ADS[0]] = DAILY
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (payload,) = [h.json for h in r.sink.on("/hook")]
    spend = payload["spend"]
    assert payload["type"] == "ad.rejected"
    assert (spend["spend_7d"], spend["daily_spend"], spend["currency"]) == (700.0, 100.0, "USD")
    assert (spend["impressions_7d"], spend["clicks_7d"], spend["error"]) == (7000, 210, None)
    assert spend["spend_micro_7d"] == 700_000_000


async def test_300_rejections_cost_two_requests_and_never_a_429(tmp_path: Path) -> None:
    """300 ads rejected in one cycle: two analytics requests of ≤ 250 ads, none refused
    by a simulator allowing only 2 a window, and every ad's figures in."""
    scenario = small_scenario()
    ids = [str(700_000_000_000 + i) for i in range(300)]
    group = scenario["accounts"][0]["campaigns"][0]["ad_groups"][0]
    group["ads"] = [{"id": i, "name": f"Ad {i}"} for i in ids]
    async with rig(tmp_path, scenario) as r:
        r.sim.analytics_limiter.limit = 2
        _analytics(r, 'wait = "10s"')
        assert await run_once(r.config) == EXIT_OK
        for ad_id in ids:
            r.sim.world.reject_ad(ad_id, reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        asked = _analytics_requests(r)
        bodies = "\n".join(m["message"] for m in r.messages())
    assert [len([k for k, _ in q.query if k == "ad_ids"]) for q in asked] == [250, 50]
    assert [q.status for q in asked] == [200, 200]
    assert "Spend figures unavailable" not in bodies
    assert "Money at risk: " in bodies


async def test_a_spent_analytics_budget_holds_figures_back_without_a_429(tmp_path: Path) -> None:
    """One analytics request a window at the simulator: the budget learns it from the
    first answer and waits rather than be refused; the ads past it say the budget was
    spent, and the alert is not late."""
    scenario = small_scenario()
    ids = [str(700_000_000_000 + i) for i in range(260)]
    scenario["accounts"][0]["campaigns"][0]["ad_groups"][0]["ads"] = [
        {"id": i, "name": f"Ad {i}"} for i in ids
    ]
    async with rig(tmp_path, scenario) as r:
        r.sim.analytics_limiter.limit = 1
        _analytics(r, 'wait = "1s"')
        assert await run_once(r.config) == EXIT_OK
        for ad_id in ids:
            r.sim.world.reject_ad(ad_id, reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        asked = _analytics_requests(r)
        bodies = "\n".join(m["message"] for m in r.messages())
        events = await _events(r)
    assert [q.status for q in asked] == [200]
    # Digests list the costliest first: the ads held back come last, counted in the total.
    assert "(10 without figures)" in bodies
    held = [e.spend for e in events if e.spend and e.spend["spend_7d"] is None]
    assert len(held) == 10
    assert {s["error"] for s in held} == {"analytics budget spent"}


async def test_a_reminder_reuses_cached_figures_then_refreshes_old_ones(tmp_path: Path) -> None:
    """A still-rejected reminder within ``cache_for`` shows the stored figures without a
    request; one past it asks again (and shows the new figures)."""
    t0 = time.time()
    async with rig(tmp_path) as r:
        _analytics(r, 'cache_for = "30h"', repeat="1d")
        r.sim.analytics.daily[ADS[0]] = DAILY
        assert await run_once(r.config, now=lambda: t0) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: t0 + 60) == EXIT_OK
        assert len(_analytics_requests(r)) == 1
        r.sim.analytics.daily[ADS[0]] = (200_000_000, 2_000, 60)
        assert await run_once(r.config, now=lambda: t0 + DAY + 120) == EXIT_OK
        cached = r.messages()[-1]
        assert len(_analytics_requests(r)) == 1
        assert await run_once(r.config, now=lambda: t0 + 2 * DAY + 240) == EXIT_OK
        fresh = r.messages()[-1]
        assert len(_analytics_requests(r)) == 2
    assert cached["title"] == "🔁 Ad still rejected: Holiday Ad 0"
    assert "Spend last 7 days: 700.00 USD" in cached["message"]
    assert "Spend last 7 days: 1,400.00 USD" in fresh["message"]


async def test_a_reminder_with_analytics_down_shows_the_last_figures_and_their_age(
    tmp_path: Path,
) -> None:
    """Past ``cache_for`` with the endpoint failing, a reminder still shows the stored
    figures, dated, and says why fresh ones are missing (a restart in between: each
    ``run --once`` opens the state anew)."""
    t0 = time.time()
    async with rig(tmp_path) as r:
        _analytics(r, 'cache_for = "1h"\nwait = "1s"', repeat="1d")
        r.sim.analytics.daily[ADS[0]] = DAILY
        assert await run_once(r.config, now=lambda: t0) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: t0 + 60) == EXIT_OK
        r.sim.add_fault(path="/v5/ad_accounts/*/ads/analytics", kind="status_500")
        assert await run_once(r.config, now=lambda: t0 + DAY + 120) == EXIT_OK
        reminder = r.messages()[-1]
    assert reminder["title"] == "🔁 Ad still rejected: Holiday Ad 0"
    assert "Spend last 7 days: 700.00 USD" in reminder["message"]
    assert "fresh ones unavailable: analytics failing (500)" in reminder["message"]


async def test_a_digest_sorts_rejections_by_money_at_risk_and_totals_it(tmp_path: Path) -> None:
    """Three rejections in one digest: the costliest first, the total at risk below."""
    async with rig(tmp_path) as r:
        _analytics(r)
        for ad_id, per_day in zip(ADS[:3], (10, 300, 50), strict=True):
            r.sim.analytics.daily[ad_id] = (per_day * 1_000_000, 100, 1)
        assert await run_once(r.config) == EXIT_OK
        for ad_id in ADS[:3]:
            r.sim.world.reject_ad(ad_id, reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (digest,) = r.messages()
    body = digest["message"]
    order = [body.index(f"Holiday Ad {i}") for i in (1, 2, 0)]
    assert order == sorted(order)
    assert "Money at risk: 2,520.00 USD spent in the last 7 days by 3 rejected ads" in body


async def test_hostile_analytics_answers_never_crash_or_fake_a_figure(tmp_path: Path) -> None:
    """Rows with nulls, negatives, strings, huge numbers, no AD_ID and unknown ids: the
    alert arrives, each ad's figures unavailable, no number made up."""
    async with rig(tmp_path) as r:
        _analytics(r)
        assert await run_once(r.config) == EXIT_OK
        r.sim.add_fault(path="/v5/ad_accounts/*/ads/analytics", kind="hostile_rows")
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
    assert "Spend figures unavailable (analytics sent an unusable" in message["message"]
    assert "Spend last 7 days" not in message["message"]
    assert "@everyone" not in message["message"]


async def test_templates_use_the_figures_and_unknown_variables_stay_errors(
    tmp_path: Path,
) -> None:
    """``$spend_7d $currency`` and friends render the figures; ``$spend_30d`` is a config
    error naming the key."""
    async with rig(tmp_path) as r:
        template = 'template = { body = "$name: $spend_7d $currency, ~$daily_spend/day, ' \
            '$impressions_7d imp, $clicks_7d clicks" }\n'  # fmt: skip
        _analytics(r, template=template)
        r.sim.analytics.daily[ADS[0]] = DAILY
        assert await run_once(r.config) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config) == EXIT_OK
        (message,) = r.messages()
        _analytics(r, template='template = { body = "$spend_30d" }\n')
        with pytest.raises(ConfigError) as info:
            load_config(r.path)
    assert message["message"] == "Holiday Ad 0: 700.00 USD, ~100.00/day, 7,000 imp, 210 clicks"
    assert "unknown variable $spend_30d" in str(info.value)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('wait = "5m"', "analytics.wait: at most 30 s"),
        ("requests_per_minute = 0", "analytics.requests_per_minute"),
        ('cache_for = "soon"', "analytics.cache_for"),
        ("enable = true", "analytics.enable: unknown key"),
    ],
)
async def test_analytics_config_errors_name_file_key_and_reason(
    tmp_path: Path, table: str, says: str
) -> None:
    """A bad ``[analytics]`` value is a config error naming the file, key and reason."""
    async with rig(tmp_path) as r:
        _analytics(r, table)
        with pytest.raises(ConfigError) as info:
            load_config(r.path)
    assert str(r.path) in str(info.value)
    assert says in str(info.value)


def test_unavailable_and_older_figures_are_said_not_hidden() -> None:
    """Rendering: no figures says why; older figures shown say their age and why."""
    base = Event(
        id="e", type="ad.rejected", entity="ad", entity_id="1", ad_account_id="2",
        detected_at=0.0, state={"review_status": "REJECTED"},
    )  # fmt: skip
    none = base.__class__(**{**_fields(base), "spend": {"spend_7d": None, "error": "x <b>"}})
    old = base.__class__(**{**_fields(base), "spend": {
        "spend_7d": 7.0, "daily_spend": 1.0, "currency": "EUR", "as_of": 0.0,
        "error": "analytics failing (500)"}})  # fmt: skip
    assert "Spend figures unavailable (x" in render([none]).body
    body = render([old]).body
    assert "Spend last 7 days: 7.00 EUR · ~1.00 EUR/day (figures of 1970-01-01 00:00 UTC" in body
    assert "analytics failing (500)" in body


def _fields(event: Event) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


async def test_figures_are_stored_per_ad_on_each_backend(opener: Any, db_path: Path) -> None:  # noqa: F811
    """The store keeps each ad's last figures whole, replaced by newer ones."""
    store = await opener(db_path)
    try:
        row = AdSpend(ACCOUNT, "1", 7_000_000, 70, 7, "USD", "2026-11-26", "2026-12-02", 5.0)
        await store.save_ad_spend([row])
        await store.save_ad_spend([AdSpend(**{**_asdict(row), "spend_micro": 9, "as_of": 6.0})])
        got = await store.ad_spend(ACCOUNT, ["1", "2"])
    finally:
        await store.close()
    assert got == {"1": AdSpend(**{**_asdict(row), "spend_micro": 9, "as_of": 6.0})}


def _asdict(row: AdSpend) -> dict[str, Any]:
    return {f: getattr(row, f) for f in row.__dataclass_fields__}


def test_the_analytics_enums_are_the_specs(openapi: dict[str, Any]) -> None:
    """The columns, granularities, windows and currencies restated in vocab.py are the
    spec's, value for value; the operation is in the ads_analytics category."""
    from monitor import vocab

    params = openapi["components"]["parameters"]
    schemas = openapi["components"]["schemas"]
    operation = openapi["paths"][PATH]["get"]
    assert tuple(params["query_columns"]["schema"]["items"]["enum"]) == vocab.ANALYTICS_COLUMNS
    assert set(COLUMNS) <= set(vocab.ANALYTICS_COLUMNS)
    assert tuple(schemas["Granularity"]["enum"]) == vocab.GRANULARITIES
    click = params["query_conversion_attribution_click_window_days"]["schema"]["enum"]
    assert tuple(click) == vocab.WINDOW_DAYS
    assert params["query_ad_ids"]["schema"]["maxItems"] == vocab.ANALYTICS_MAX_IDS
    assert tuple(schemas["Currency"]["enum"]) == vocab.CURRENCIES
    assert operation["x-ratelimit-category"] == "ads_analytics"
