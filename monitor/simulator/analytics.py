"""GET /ad_accounts/{ad_account_id}/ads/analytics (``ads/analytics``): parameters checked
as the spec declares them, and plausible figures per ad and day.

The figures are a pure function of the ad id and the date (so a test can compute what it
should see), unless a test sets an ad's daily figures in :attr:`AnalyticsFigures.daily`.
Ids the account does not hold are left out of the answer, as Pinterest does. The endpoint
counts against its own quota (``ads_analytics``), see :mod:`monitor.simulator.app`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from multidict import MultiMapping

from monitor import vocab
from monitor.simulator.params import ParamError, _values

#: The 400 message prefix, as the spec's example says it.
PARAM_ERROR: Final = "Invalid ad account ads analytics parameters"
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_WINDOWS: Final = ("click_window_days", "engagement_window_days", "view_window_days")


@dataclass(frozen=True, slots=True)
class AnalyticsQuery:
    """A validated analytics request."""

    start: date
    end: date
    ad_ids: tuple[str, ...]
    columns: tuple[str, ...]
    granularity: str

    def days(self) -> list[date]:
        """Every date of the range, inclusive."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def _date(query: MultiMapping[str], name: str) -> date:
    value = query.get(name)
    if value is None:
        raise ParamError(f"{name} is required")
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ParamError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def parse_analytics_query(query: MultiMapping[str], *, today: date) -> AnalyticsQuery:
    """Validate the parameters of an ads analytics request (``today`` in UTC).

    Raises:
        ParamError: Where the real API answers 400.
    """
    granularity = query.get("granularity")
    if granularity is None:
        raise ParamError("granularity is required")
    if granularity not in vocab.GRANULARITIES:
        raise ParamError(f"granularity must be one of {', '.join(vocab.GRANULARITIES)}")
    start, end = _dates(query, granularity, today)
    columns = _values(query, "columns")
    if not columns:
        raise ParamError("columns is required")
    bad = [c for c in columns if c not in vocab.ANALYTICS_COLUMNS]
    if bad:
        raise ParamError(f"columns: {bad[0]!r} is not a reporting column")
    _options(query)
    return AnalyticsQuery(start, end, _ad_ids(query), tuple(columns), granularity)


def _dates(query: MultiMapping[str], granularity: str, today: date) -> tuple[date, date]:
    start, end = _date(query, "start_date"), _date(query, "end_date")
    back = vocab.ANALYTICS_DAYS_BACK.get(granularity, vocab.ANALYTICS_DEFAULT_DAYS)
    longest = vocab.ANALYTICS_MAX_RANGE_DAYS.get(granularity, vocab.ANALYTICS_DEFAULT_DAYS)
    if end < start:
        raise ParamError("end_date must not be before start_date")
    if start < today - timedelta(days=back):
        raise ParamError(f"start_date cannot be more than {back} days back from today")
    if (end - start).days > longest:
        raise ParamError(f"end_date cannot be more than {longest} days past start_date")
    return start, end


def _ad_ids(query: MultiMapping[str]) -> tuple[str, ...]:
    ad_ids = _values(query, "ad_ids")
    if ad_ids is None:
        if _values(query, "campaign_ids") is None or _values(query, "pin_ids") is None:
            raise ParamError("either ad_ids or both campaign_ids and pin_ids are required")
        return ()
    if len(ad_ids) > vocab.ANALYTICS_MAX_IDS:
        raise ParamError(f"ad_ids takes at most {vocab.ANALYTICS_MAX_IDS} ids, got {len(ad_ids)}")
    if bad := [i for i in ad_ids if not i.isdigit() or not i.isascii()]:
        raise ParamError(f"ad_ids: {bad[0]!r} is not a valid id")
    return tuple(dict.fromkeys(ad_ids))


def _options(query: MultiMapping[str]) -> None:
    """The attribution options: pinmon sends none, but a value outside the enum is a 400."""
    for name in _WINDOWS:
        value = query.get(name)
        if value is not None and value not in {str(d) for d in vocab.WINDOW_DAYS}:
            raise ParamError(f"{name} must be one of {', '.join(map(str, vocab.WINDOW_DAYS))}")
    report_time = query.get("conversion_report_time")
    if report_time is not None and report_time not in vocab.CONVERSION_REPORT_TIMES:
        raise ParamError("conversion_report_time must be TIME_OF_AD_ACTION or TIME_OF_CONVERSION")


#: One ad's figures for one day: (spend in micro-units of the account's currency,
#: paid impressions, paid clicks).
Daily = tuple[int, int, int]


@dataclass(slots=True)
class AnalyticsFigures:
    """What the simulator reports: derived figures, or those a test set per ad."""

    daily: dict[str, Daily] = field(default_factory=dict)

    def of(self, ad_id: str, day: date) -> Daily:
        """The ad's figures on ``day``."""
        if ad_id in self.daily:
            return self.daily[ad_id]
        h = hashlib.blake2b(f"{ad_id}:{day.isoformat()}".encode(), digest_size=8).digest()
        spend = 5_000_000 + int.from_bytes(h[:4]) % 495_000_000  # 5 to 500 a day
        impressions = spend // 20_000 + h[4] * 10  # ~ a 20 CPM, in micro-units
        clicks = impressions // 100 + h[5] % 10
        return spend, impressions, clicks

    def rows(self, query: AnalyticsQuery, known: set[str]) -> list[dict[str, Any]]:
        """The answer's rows: per known ad, per day (or one in all for ``TOTAL``)."""
        out: list[dict[str, Any]] = []
        for ad_id in query.ad_ids:
            if ad_id not in known:
                continue
            days = [(d, self.of(ad_id, d)) for d in query.days()]
            if query.granularity == "TOTAL":
                total = tuple(sum(f[i] for _, f in days) for i in range(3))
                out.append({"AD_ID": ad_id, **_columns(query.columns, total)})  # type: ignore[arg-type]
            else:
                # WEEK, MONTH and HOUR are served daily too: pinmon asks for DAY only.
                out += [
                    {"AD_ID": ad_id, "DATE": d.isoformat(), **_columns(query.columns, f)}
                    for d, f in days
                ]
        return out


def _columns(columns: tuple[str, ...], figures: Daily) -> dict[str, Any]:
    spend, impressions, clicks = figures
    values: dict[str, Any] = {
        "SPEND_IN_MICRO_DOLLAR": spend,
        "SPEND_IN_DOLLAR": spend / 1_000_000,
        "PAID_IMPRESSION": impressions,
        "IMPRESSION_1": impressions,
        "TOTAL_IMPRESSION": impressions,
        "CLICKTHROUGH_1": clicks,
        "TOTAL_CLICKTHROUGH": clicks,
    }
    return {c: values.get(c, 0) for c in columns}


def hostile(rows: list[dict[str, Any]]) -> list[Any]:
    """The rows as a broken or hostile backend might send them: every field that can be
    wrong is wrong in some row, and a few rows that are not rows at all."""
    out: list[Any] = []
    for n, row in enumerate(rows):
        bad = dict(row)
        trick = n % 6
        if trick == 0:
            bad["SPEND_IN_MICRO_DOLLAR"] = None
        elif trick == 1:
            bad["SPEND_IN_MICRO_DOLLAR"] = -5_000_000
        elif trick == 2:
            bad["IMPRESSION_1"] = "lots @everyone"
        elif trick == 3:
            bad["SPEND_IN_MICRO_DOLLAR"] = 10**30
        elif trick == 4:
            bad.pop("AD_ID")
        else:
            bad["CLICKTHROUGH_1"] = 1.5e308
        out.append(bad)
    out += [
        {"AD_ID": "999999999999", "DATE": "2020-01-01", "SPEND_IN_MICRO_DOLLAR": 1},
        "<!channel>",
        None,
        {"AD_ID": 12345, "SPEND_IN_MICRO_DOLLAR": 7},
    ]
    return out
