"""Charts drawn on the server as inline SVG: pure functions from numbers to markup.

No script and no style attribute (the board's Content-Security-Policy allows neither
inline): shapes carry classes the board's stylesheet colours. Every chart has a
``<title>`` and a ``<desc>`` in words for screen readers, and the page beside it a table
of the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from markupsafe import Markup, escape

#: Time-in-review buckets: upper bound in seconds and label (the last is open).
REVIEW_BUCKETS: Final = (
    (3600.0, "< 1 h"),
    (3 * 3600.0, "1–3 h"),
    (6 * 3600.0, "3–6 h"),
    (12 * 3600.0, "6–12 h"),
    (86400.0, "12–24 h"),
    (2 * 86400.0, "1–2 d"),
    (4 * 86400.0, "2–4 d"),
    (7 * 86400.0, "4–7 d"),
    (math.inf, "≥ 7 d"),
)
_W: Final = 760
_H: Final = 210
_LEFT: Final = 44
_BOTTOM: Final = 28
_TOP: Final = 12
_TICKS: Final = 4


@dataclass(frozen=True, slots=True)
class Series:
    """One coloured series of a bar chart: its name, its CSS class, a value per bar."""

    name: str
    css: str
    values: Sequence[int]


def day_label(day: int) -> str:
    """``MM-DD`` of a day counted since the epoch (UTC)."""
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%m-%d")


def _nice_step(value: int, ticks: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten whose ``ticks`` steps reach ``value``:
    whole numbers on the axis, however small the counts."""
    need = max(1, -(-value // ticks))
    power = int(10 ** math.floor(math.log10(need)))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= need)


def _text(x: float, y: float, body: str, css: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}">{escape(body)}</text>'
    )


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    label_every: int = 1,
) -> Markup:
    """Grouped bars, one group per label, one bar per series, with a y axis and a legend.

    Args:
        labels: The x axis, one per group (shown every ``label_every``).
        series: Values, as many as labels each.
        title: The chart's title (also its accessible name).
        description: What it shows, in words (its accessible description).
    """
    step = _nice_step(max((v for s in series for v in s.values), default=0), _TICKS)
    top = step * _TICKS
    plot_w, plot_h = _W - _LEFT - 8, _H - _TOP - _BOTTOM
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H + 18}" role="img"'
        ' class="chart" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
    ]
    for tick in range(_TICKS + 1):
        y = _TOP + plot_h - plot_h * tick / _TICKS
        parts.append(f'<line x1="{_LEFT}" x2="{_W - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(_text(_LEFT - 6, y + 4, f"{step * tick:,}", "axis", "end"))
    for i, label in enumerate(labels):
        x0 = _LEFT + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top
            x = x0 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" class="{s.css}"><title>{escape(label)}: {value}'
                f" {escape(s.name)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(_text(_LEFT + (i + 0.5) * group_w, _H - _BOTTOM + 16, label, "axis"))
    x = _LEFT
    for s in series:
        parts.append(f'<rect x="{x}" y="{_H + 4}" width="10" height="10" class="{s.css}"/>')
        parts.append(_text(x + 14, _H + 13, s.name, "legend", "start"))
        x += 24 + 8 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def review_histogram(spans_s: Sequence[float]) -> list[tuple[str, int]]:
    """How many spans fall in each of :data:`REVIEW_BUCKETS`."""
    counts = [0] * len(REVIEW_BUCKETS)
    for span in spans_s:
        counts[next(i for i, (upper, _) in enumerate(REVIEW_BUCKETS) if span < upper)] += 1
    return [(label, n) for (_, label), n in zip(REVIEW_BUCKETS, counts, strict=True)]


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
