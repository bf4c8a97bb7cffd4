"""The daily recap's message (``monitor.recap``, see :mod:`monitor.recap`): pure.

Names and reasons come from Pinterest, so they are escaped for the target like any other
text; the links are pinmon's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from monitor.events import Event
from monitor.render.escape import Dialect
from monitor.render.spend import amount
from monitor.render.words import day_text, span_text

#: Lines per section; the event keeps more (up to monitor.recap.MAX_ENTRIES).
SECTION_ITEMS: Final = 20


def recap_title(event: Event, d: Dialect) -> str:
    """``☀️ Daily recap: 3 ads rejected, 1 fixed, 2 stuck in review``."""
    s = event.state
    parts = []
    if s.get("rejected_count"):
        n = int(s["rejected_count"])
        parts.append(f"{n} {'ad' if n == 1 else 'ads'} rejected")
    if s.get("fixed_count"):
        parts.append(f"{int(s['fixed_count'])} fixed")
    if s.get("stuck_count"):
        parts.append(f"{int(s['stuck_count'])} stuck in review")
    return "☀️ Daily recap: " + (", ".join(parts) if parts else "nothing rejected or stuck")


def recap_body(event: Event, d: Dialect) -> str:
    """Rejected now, fixed since the last recap, stuck in review, and pinmon's health."""
    s, at = event.state, event.detected_at

    def rejected(e: Mapping[str, Any]) -> str:
        why = f" — {d.text('; '.join(e['reasons']))}" if e.get("reasons") else ""
        since = f"; since {day_text(e['since'])}" if e.get("since") else ""
        return _line(e, d, why + since + _spent(e.get("spend")))

    blocks = [
        _money_at_risk(s.get("money_at_risk")),
        _section("Rejected now", s.get("rejected_count", 0), s.get("rejected", []), rejected),
        _section(
            "Fixed since the last recap",
            s.get("fixed_count", 0),
            s.get("fixed", []),
            lambda e: _line(e, d, f" — approved {day_text(e['at'])}"),
        ),
        _section(
            "Stuck in review",
            s.get("stuck_count", 0),
            s.get("stuck", []),
            lambda e: _line(e, d, f" — in review for {span_text(at - e['since'])}"),
        ),
        _health(s, at, d),
    ]
    return "\n\n".join(b for b in blocks if b)


def _spent(spend: Any) -> str:
    """``; 1,234.56 USD spent in 7 days`` from an entry's stored figures, else empty."""
    if not isinstance(spend, Mapping) or not _is_number(spend.get("spend_7d")):
        return ""
    cur = spend.get("currency")
    money = amount(float(spend["spend_7d"]), cur if isinstance(cur, str) else None)
    return f"; {money} spent in 7 days"


def _money_at_risk(at_risk: Any) -> str:
    """``**Money at risk:** 2,345.67 USD spent in the last 7 days by the ads rejected now``."""
    if not isinstance(at_risk, Mapping):
        return ""
    sums = [(c, float(v)) for c, v in at_risk.items() if isinstance(c, str) and _is_number(v)]
    if not sums:
        return ""
    money = " + ".join(amount(v, c or None) for c, v in sorted(sums, key=lambda i: -i[1]))
    return f"**Money at risk:** {money} spent in the last 7 days by the ads rejected now."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _line(entry: Mapping[str, Any], d: Dialect, what: str) -> str:
    """One entry: its name, where it runs, ``what`` about it, and its Ads Manager link."""
    where = " › ".join(d.text(x) for x in (entry.get("campaign"), entry.get("ad_group")) if x)
    name = d.text(entry.get("name") or entry.get("ad_id"))
    line = f"- **{name}**" + (f" ({where})" if where else "") + what
    return line + (f" · [Ads Manager]({entry['link']})" if entry.get("link") else "")


def _section(
    heading: str,
    count: int,
    entries: Sequence[Mapping[str, Any]],
    line: Callable[[Mapping[str, Any]], str],
) -> str:
    if not count:
        return ""
    lines = [line(e) for e in entries[:SECTION_ITEMS]]
    if count > len(lines):
        lines.append(f"- …and {count - len(lines)} more")
    return f"**{heading} ({count}):**\n" + "\n".join(lines)


def _health(s: Mapping[str, Any], at: float, d: Dialect) -> str:
    accounts = s.get("accounts", [])
    failing = [a for a in accounts if a.get("consecutive_failures")]
    polled = [a["last_success_at"] for a in accounts if a.get("last_success_at")]
    line = f"**pinmon:** {len(accounts)} {'account' if len(accounts) == 1 else 'accounts'} watched"
    if polled:
        line += f", last polled {span_text(at - max(polled))} ago"
    line += f"; {len(failing)} failing" if failing else "; none failing"
    if failing:
        line += " (" + ", ".join(d.text(a.get("name") or a["account_id"]) for a in failing) + ")"
    line += (
        f"; outbox: {int(s.get('pending_deliveries', 0))} pending,"
        f" {int(s.get('dead_deliveries', 0))} dead."
    )
    return line
