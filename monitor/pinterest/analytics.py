"""Ads analytics (``GET /ad_accounts/{id}/ads/analytics``): an ad's spend, impressions and
clicks per day, asked for up to 250 ads a request, under a request budget of its own.

The operation is in the ``ads_analytics`` rate-limit category, a quota apart from the
listings' ``ads_read``: its requests go through a :class:`AnalyticsClient` with its own
:class:`~monitor.pinterest.budget.RateBudget`, so that figures never spend the budget
alerts are polled with, nor the other way round.

What the answer holds is evidence: a row without an ``AD_ID``, for an ad not asked
about, or outside the dates asked, is logged and left out; a value that is not a sane
number (null, negative, a string, beyond any real spend) makes that ad's figures
unusable rather than summed into a wrong total (:func:`add_up`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Final

import msgspec
import structlog

from monitor import vocab
from monitor.pinterest.params import check_ad_account_id, check_entity_ids
from monitor.pinterest.transport import Request, Transport

log = structlog.get_logger("monitor.pinterest.analytics")

#: The columns asked for, all in the spec's ``columns`` enum, in one place: spend in
#: micro-units of the account's currency, paid impressions and paid clicks (what the
#: spend bought; earned ones cost nothing).
SPEND: Final = "SPEND_IN_MICRO_DOLLAR"
IMPRESSIONS: Final = "IMPRESSION_1"
CLICKS: Final = "CLICKTHROUGH_1"
COLUMNS: Final = (SPEND, IMPRESSIONS, CLICKS)
#: Micro-units per unit of currency.
MICRO: Final = 1_000_000
#: Beyond any real ad's day (a billion a day in spend, a trillion impressions): a value
#: past it is garbage, not a figure.
_MAX_PER_DAY: Final = {SPEND: 10**15, IMPRESSIONS: 10**12, CLICKS: 10**12}
_ENDPOINT: Final = "/ad_accounts/{id}/ads/analytics"


@dataclass(frozen=True, slots=True)
class AdTotals:
    """One ad's figures over the dates asked: sums of the days reported."""

    spend_micro: int
    impressions: int
    clicks: int
    days: int


@dataclass(slots=True)
class Report:
    """What the answers said: totals per ad, and why an ad has none (garbage)."""

    totals: dict[str, AdTotals] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)


def _number(value: Any, column: str) -> int | None:
    """A count or micro-amount if ``value`` is a sane one, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return None
    number = int(value)
    return number if 0 <= number <= _MAX_PER_DAY[column] else None


class Day(msgspec.Struct):
    """One ad's day as a sane answer spells it: what :func:`decode_days` decodes a whole
    answer into in one C-level pass when every row is like that (the usual case)."""

    AD_ID: str
    DATE: date
    SPEND_IN_MICRO_DOLLAR: Annotated[int, msgspec.Meta(ge=0, le=_MAX_PER_DAY[SPEND])]
    IMPRESSION_1: Annotated[int, msgspec.Meta(ge=0, le=_MAX_PER_DAY[IMPRESSIONS])]
    CLICKTHROUGH_1: Annotated[int, msgspec.Meta(ge=0, le=_MAX_PER_DAY[CLICKS])]


_decode_days = msgspec.json.Decoder(list[Day]).decode
_decode_rows = msgspec.json.Decoder(list[Any]).decode


def decode_days(body: bytes) -> list[Day] | list[Any]:
    """An answer's rows: typed when every row is sane, else as plain JSON values for
    :func:`add_up` to sort out row by row (one bad row must not cost the others).

    Raises:
        msgspec.DecodeError: The body is not JSON.
    """
    try:
        return _decode_days(body)
    except msgspec.ValidationError:
        return _decode_rows(body)


def add_up(rows: Iterable[Any], asked: Sequence[str], start: date, end: date) -> Report:
    """Sum each asked ad's daily rows (:class:`Day` or plain JSON values); pure.

    An asked ad with no row spent nothing (Pinterest leaves out ads without delivery). A
    day reported twice counts once (the later row).
    """
    wanted = set(asked)
    days: dict[str, dict[date, tuple[int, int, int]]] = {a: {} for a in asked}
    report = Report()
    ignored = 0
    for row in rows:
        if type(row) is Day:  # decoded and checked already: only whose, and when
            if row.AD_ID in wanted and start <= row.DATE <= end:
                days[row.AD_ID][row.DATE] = (row.SPEND_IN_MICRO_DOLLAR, row.IMPRESSION_1,
                                             row.CLICKTHROUGH_1)  # fmt: skip
            else:
                ignored += 1
            continue
        ad_id = row.get("AD_ID") if isinstance(row, dict) else None
        if not isinstance(ad_id, str) or ad_id not in wanted:
            ignored += 1
            continue
        day = row.get("DATE")
        try:
            when = date.fromisoformat(day) if isinstance(day, str) else None
        except ValueError:
            when = None
        if when is None or not start <= when <= end:
            ignored += 1
            continue
        values = [_number(row.get(c), c) for c in COLUMNS]
        if any(v is None for v in values):
            bad = next(c for c, v in zip(COLUMNS, values, strict=True) if v is None)
            report.unusable[ad_id] = f"analytics sent an unusable {bad}"
            continue
        spend, impressions, clicks = (int(v or 0) for v in values)
        days[ad_id][when] = (spend, impressions, clicks)
    if ignored:
        log.warning("analytics.rows_ignored", rows=ignored)
    for ad_id, by_day in days.items():
        if ad_id in report.unusable:
            continue
        figures = list(by_day.values())
        report.totals[ad_id] = AdTotals(
            sum(f[0] for f in figures), sum(f[1] for f in figures), sum(f[2] for f in figures),
            len(figures),
        )  # fmt: skip
    if report.unusable:
        log.warning("analytics.figures_unusable", ads=len(report.unusable))
    return report


class AnalyticsClient:
    """Asks the analytics endpoint, ≤ 250 ads a request, over its own transport (whose
    budget is the ``ads_analytics`` one).

    Args:
        transport: Shares the session and tokens with the listings' client, not its budget.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @property
    def answers(self) -> tuple[int, int | None]:
        """(responses so far, the latest one's status): what a wait cut short was on."""
        return self._transport.responses, self._transport.last_status

    async def daily(
        self, account_id: str, ad_ids: Sequence[str], *, start: date, end: date
    ) -> AsyncIterator[Report]:
        """The ads' figures from ``start`` to ``end`` (inclusive, UTC dates), one report
        per request of ≤ 250 ads, as each arrives (what came in before a deadline counts).

        Raises (while iterating):
            ValueError: An id is not a digit string, or the dates are backwards.
            PinterestError: A request failed after its retries.
        """
        account_id = check_ad_account_id(account_id)
        ids = check_entity_ids("ad_ids", ad_ids)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        for n in range(0, len(ids), vocab.ANALYTICS_MAX_IDS):
            chunk = ids[n : n + vocab.ANALYTICS_MAX_IDS]
            params = (
                ("start_date", start.isoformat()),
                ("end_date", end.isoformat()),
                ("granularity", "DAY"),
                *(("columns", c) for c in COLUMNS),
                *(("ad_ids", i) for i in chunk),
            )
            request = Request(_ENDPOINT, f"/ad_accounts/{account_id}/ads/analytics", params)
            rows = await self._transport.get(request, decode_days)
            yield add_up(rows, chunk, start, end)
