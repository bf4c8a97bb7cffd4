"""Money at risk in words: an ad's spend figures (monitor.analytics), and a digest's total.

Pure. An event's ``spend`` is read defensively (a number is used only if it is one), since
the outbox row it comes from may have been written by another version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.events import Event
from monitor.render.words import day_text


def _number(spend: Mapping[str, Any], key: str) -> float | None:
    value = spend.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def amount(value: float, currency: str | None) -> str:
    """``1,234.56 USD`` (the currency omitted when unknown)."""
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def count(value: float | None) -> str:
    """``12,345``, or empty."""
    return "" if value is None else f"{int(value):,}"


def spend_7d(event: Event) -> float | None:
    """The event's spend over the 7 days, when it carries a figure."""
    return None if not event.spend else _number(event.spend, "spend_7d")


def currency(event: Event) -> str | None:
    """The currency of the event's figures, when known."""
    value = (event.spend or {}).get("currency")
    return value if isinstance(value, str) and value.isalpha() and len(value) == 3 else None


def spend_line(event: Event, text: Callable[[str], str] = str) -> str | None:
    """``Spend last 7 days: 1,234.56 USD · 12,345 impressions · 321 clicks · ~176.37
    USD/day``, or ``Spend figures unavailable (reason)``; None without ``spend``. The
    figures are pinmon's own digits; the reason goes through ``text`` (an escape)."""
    spend = event.spend
    if not spend:
        return None
    error = spend.get("error")
    why = text(str(error)) if error else "unknown reason"
    total = _number(spend, "spend_7d")
    if total is None:
        return f"Spend figures unavailable ({why})"
    cur = currency(event)
    parts = [f"Spend last 7 days: {amount(total, cur)}"]
    for key, noun in (("impressions_7d", "impressions"), ("clicks_7d", "clicks")):
        n = _number(spend, key)
        if n is not None:
            parts.append(f"{count(n)} {noun}")
    daily = _number(spend, "daily_spend")
    if daily is not None:
        parts.append(f"~{amount(daily, cur)}/day")
    line = " · ".join(parts)
    if error:
        as_of = _number(spend, "as_of")
        when = f"figures of {day_text(as_of)}" if as_of is not None else "older figures"
        line += f" ({when}; fresh ones unavailable: {why})"
    return line


def by_money_at_risk(events: Sequence[Event]) -> list[Event]:
    """The events, those with the most spend first; those without figures after (stable)."""
    known = [e for e in events if spend_7d(e) is not None]
    known.sort(key=lambda e: -(spend_7d(e) or 0.0))
    return known + [e for e in events if spend_7d(e) is None]


def total_line(events: Sequence[Event]) -> str | None:
    """``Money at risk: 2,345.67 USD spent in the last 7 days by 3 rejected ads (1 without
    figures)``, per currency when several; None when no event carries ``spend``."""
    at_risk = [e for e in events if e.spend]
    if not at_risk:
        return None
    sums: dict[str | None, float] = defaultdict(float)
    missing = 0
    for e in at_risk:
        value = spend_7d(e)
        if value is None:
            missing += 1
        else:
            sums[currency(e)] += value
    ads = f"{len(at_risk)} rejected ad{'s' if len(at_risk) != 1 else ''}"
    without = f" ({missing} without figures)" if missing and sums else ""
    if not sums:
        return f"Money at risk: unknown, spend figures unavailable for {ads}"
    money = " + ".join(amount(v, c) for c, v in sorted(sums.items(), key=lambda i: -i[1]))
    return f"Money at risk: {money} spent in the last 7 days by {ads}{without}"
