"""The *Trends* page's view: review decisions per day, and how long reviews take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from markupsafe import Markup

from monitor.store import StateStore
from monitor.web.charts import (
    Series,
    bar_chart,
    day_label,
    quantile,
    review_histogram,
)
from monitor.web.now import REVIEW_TYPES

#: The decisions charted, and their series' names and classes.
DECISIONS: Final = (("ad.rejected", "rejected", "bar-bad"), ("ad.approved", "approved", "bar-ok"))
#: Decisions of each kind whose time in review is measured (the newest): bounds the work.
REVIEW_SAMPLE: Final = 2_000


@dataclass(frozen=True, slots=True)
class TrendsView:
    """The charts and, for the text alternative, the numbers behind them."""

    days: list[tuple[str, int, int]]  # (MM-DD, rejected, approved), oldest first
    per_day: Markup
    buckets: list[tuple[str, int]]
    review: Markup
    measured: int
    median_s: float | None
    p90_s: float | None
    window_days: int


async def trends_view(store: StateStore, *, now: float, retention_s: float) -> TrendsView:
    """Per day over the retention window: rejections and approvals; the distribution of
    time in review of the newest decisions (from the ad's entry into review)."""
    since = now - retention_s
    counted = await store.per_day(types=[t for t, _, _ in DECISIONS], since=since, until=now)
    first, last = int(since // 86400), int(now // 86400)
    by = {(day, t): n for day, t, n in counted}
    days = list(range(first, last + 1))
    series = [Series(name, css, [by.get((d, t), 0) for d in days]) for t, name, css in DECISIONS]
    labels = [day_label(d) for d in days]
    total = [sum(s.values) for s in series]
    per_day = bar_chart(
        labels,
        series,
        title="Review decisions per day",
        description=(
            f"Over the last {len(days)} days: {total[0]} rejections and {total[1]} approvals;"
            " the table below gives each day."
        ),
        label_every=max(1, len(days) // 10),
    )
    spans = await store.review_spans(
        decisions=[t for t, _, _ in DECISIONS],
        entries=REVIEW_TYPES,
        since=since,
        limit=REVIEW_SAMPLE,
    )
    buckets = review_histogram(spans)
    median, p90 = quantile(spans, 0.5), quantile(spans, 0.9)
    review = bar_chart(
        [label for label, _ in buckets],
        [Series("decisions", "bar-accent", [n for _, n in buckets])],
        title="Time in review",
        description=(
            f"Of the {len(spans)} newest decisions whose entry into review is recorded,"
            " how many took each span; the table below gives the counts."
        ),
    )
    return TrendsView(
        [
            (label, s0, s1)
            for label, s0, s1 in zip(labels, *(s.values for s in series), strict=True)
        ],
        per_day,
        buckets,
        review,
        len(spans),
        median,
        p90,
        len(days),
    )
