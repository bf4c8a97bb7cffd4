"""Turn events into one notification message: pure, no I/O, no clock.

One event becomes one message; several become one digest. Bodies are Markdown that
reads well as-is and converts well (apprise turns it into Slack mrkdwn, HTML, ...). Every
piece of text from Pinterest is escaped for the target's :class:`Dialect` on the way in
(:mod:`monitor.render.escape`); pinmon's own markup around it is never escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from monitor.events import Change, Event
from monitor.models import Kind
from monitor.render.escape import MARKDOWN, Dialect, escape_items
from monitor.render.fixes import GUIDELINES, NEXT_STEP, guidance
from monitor.render.message import LEVELS, Level, Message
from monitor.render.ops import ops_body, ops_level, ops_title
from monitor.render.spend import (
    amount,
    by_money_at_risk,
    currency,
    spend_7d,
    spend_line,
    total_line,
)
from monitor.render.words import (
    ads_manager_url,
    day_text,
    is_review_field,
    outcome,
    pin_url,
    reason_text,
    reasons,
    span_text,
    value_text,
)

__all__ = [
    "MARKDOWN",
    "Dialect",
    "ads_manager_url",
    "bare",
    "entity_name",
    "level",
    "reason_codes",
    "reason_text",
    "render",
    "shows_reasons",
]

_NO_NAMES: Final[Mapping[str, str]] = MappingProxyType({})
_STATE_FIELDS: Final = ("status", "review_status", "summary_status")
# Ids go in code spans, where no escape works: only an id of these characters does.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LEVEL_BY_CHANGE: Final[Mapping[str, Level]] = {
    "rejected": "failure",
    "approved": "success",
    "removed": "warning",
    "pin_deleted": "warning",
    "review_stuck": "warning",
    "landing_page_down": "warning",
}


def level(event: Event) -> Level:
    """How urgent one event is: rejected → failure, approved → success,
    removed or pin deleted → warning, anything else → info."""
    if event.is_report:
        return ops_level(event)
    return _LEVEL_BY_CHANGE.get(event.change, "info")


def render(
    events: Sequence[Event],
    *,
    account_names: Mapping[str, str] = _NO_NAMES,
    max_items: int = 20,
    dialect: Dialect = MARKDOWN,
) -> Message:
    """Render events as one message.

    Args:
        events: At least one event. Several become a digest, most severe first.
        account_names: Ad account id → display name; ids are shown when unknown.
        max_items: A digest lists at most this many events, then "…and N more".
        dialect: The markup the target reads body and title in; text from Pinterest
            is escaped for it.

    Raises:
        ValueError: ``events`` is empty.
    """
    if not events:
        raise ValueError("render() needs at least one event")
    ids = tuple(e.id for e in events)
    if len(events) == 1 and events[0].is_report:
        event = events[0]
        return Message(
            ops_title(event, dialect),
            ops_body(event, dialect),
            ops_level(event),
            ids,
            tuple(events),
        )
    if len(events) == 1:
        event = events[0]
        return Message(
            _title(event, dialect),
            _body(event, account_names, dialect),
            level(event),
            ids,
            tuple(events),
        )
    # Most severe first; among equals, the ads costing the most first (money at risk).
    ordered = sorted(by_money_at_risk(events), key=lambda e: -LEVELS.index(level(e)))
    worst = max((level(e) for e in events), key=LEVELS.index)
    return Message(
        _digest_title(events, account_names, dialect),
        _digest_body(ordered, account_names, max_items, dialect),
        worst,
        ids,
        tuple(events),
    )


def bare(events: Sequence[Event]) -> Message:
    """The events as a message with no text, for a target that sends the events
    themselves (``sends_text`` False: webhooks): rendering a title and body nobody sends
    was a tenth of the outbox's cost. The level is the worst event's, as in a digest.

    Raises:
        ValueError: ``events`` is empty.
    """
    if not events:
        raise ValueError("bare() needs at least one event")
    worst = max((level(e) for e in events), key=LEVELS.index)
    return Message("", "", worst, tuple(e.id for e in events), tuple(events))


def entity_name(event: Event) -> str:
    """The entity's name as shown, or "unnamed ad <id>" when it has none."""
    if event.name and event.name.strip():
        return event.name.strip()
    return f"unnamed {event.entity.replace('_', ' ')} {event.entity_id}"


def _account(account_id: str, names: Mapping[str, str]) -> str:
    return names.get(account_id) or account_id


def _title(event: Event, d: Dialect) -> str:
    return f"{outcome(event).headline(event.entity)}: {d.title_text(entity_name(event))}"


def _code(text: str, d: Dialect) -> str:
    return f"`{text}`" if _PLAIN_ID.fullmatch(text) else d.text(text)


def _context(event: Event, names: Mapping[str, str], d: Dialect) -> list[str]:
    lines = [f"- **Account:** {d.text(_account(event.ad_account_id, names))}"]
    if event.entity != Kind.CAMPAIGN and (event.campaign_name or event.campaign_id):
        lines.append(f"- **Campaign:** {d.text(event.campaign_name or event.campaign_id)}")
    if event.entity == Kind.AD and (event.ad_group_name or event.ad_group_id):
        lines.append(f"- **Ad group:** {d.text(event.ad_group_name or event.ad_group_id)}")
    noun = event.entity.replace("_", " ").capitalize()
    lines.append(f"- **{noun} ID:** {_code(event.entity_id, d)}")
    return lines


def shows_reasons(event: Event) -> bool:
    """Whether the event is about a rejection that stands: its reasons and fixes are shown."""
    return event.change == Change.REJECTED or (
        event.change != Change.REMOVED and event.state.get("review_status") == "REJECTED"
    )


def _change_lines(event: Event, d: Dialect) -> list[str]:
    hide_reasons = shows_reasons(event)
    return [
        f"- {d.text(name)}: {d.text(value_text(c.old))} → {d.text(value_text(c.new))}"
        for name, c in event.changes.items()
        if not (hide_reasons and is_review_field(name))
    ]


def reason_codes(event: Event) -> list[str]:
    """The event's ``rejected_reasons`` values, for guidance (labels carry no code)."""
    return [str(x) for x in event.state.get("rejected_reasons") or () if str(x).strip()]


def _policy(code: str, d: Dialect) -> str:
    fix = guidance(code)
    if fix.policy is not None:
        return f"[Policy]({fix.policy})"
    # Said, not hidden: the reader should know this is the general page.
    return f"[Advertising guidelines]({GUIDELINES}) {d.text('(no page specific to this reason)')}"


def _fix_lines(codes: Sequence[str], d: Dialect) -> list[str]:
    """Per reason: what it means, the usual fix and where Pinterest's policy is."""
    lines = []
    for code in codes:
        fix = guidance(code)
        lines.append(
            f"- **{d.text(reason_text(code))}:** {d.text(fix.meaning)} "
            f"**Fix:** {d.text(fix.fix)} {_policy(code, d)}"
        )
    return lines


def _next_step(d: Dialect) -> str:
    return f"**Next step:** {d.text(NEXT_STEP)}"


def _links(event: Event) -> str:
    links = [f"[Open in Ads Manager]({ads_manager_url(event)})"]
    if event.entity == Kind.AD and event.pin_id:
        links.append(f"[View the Pin]({pin_url(event.pin_id)})")
    return " · ".join(links)


def _body(event: Event, names: Mapping[str, str], d: Dialect) -> str:
    blocks = ["\n".join(_context(event, names, d))]
    if shows_reasons(event):
        why = escape_items(reasons(event), d.body)
        blocks.append(
            "**Why it was rejected:**\n" + "\n".join(f"- {r}" for r in why)
            if why
            else "**Why it was rejected:** Pinterest gave no reason."
        )
        fixes = _fix_lines(reason_codes(event), d)
        if fixes:
            blocks.append("**What to fix:**\n" + "\n".join(fixes))
    for extra in (_landing_line(event, d), spend_line(event, d.text), _clock_line(event)):
        if extra:
            blocks.append(extra)
    changes = _change_lines(event, d)
    if changes:
        blocks.append("**What changed:**\n" + "\n".join(changes))
    elif event.change in (Change.CREATED, Change.REMOVED):
        state = [
            f"- {name}: {d.text(value_text(event.state[name]))}"
            for name in _STATE_FIELDS
            if event.state.get(name) is not None
        ]
        if state:
            heading = "Last known state" if event.change == Change.REMOVED else "State"
            blocks.append(f"**{heading}:**\n" + "\n".join(state))
    if shows_reasons(event):
        blocks.append(_next_step(d))
    blocks.append(_links(event))
    return "\n\n".join(blocks)


def _landing_line(event: Event, d: Dialect) -> str | None:
    """What the landing-page check saw (monitor.landing)."""
    page = event.landing_page
    if not page:
        return None
    when = day_text(float(page.get("checked_at") or event.detected_at))
    took = f"{float(page.get('elapsed_s') or 0):.1f} s"
    moved = ""
    if page.get("redirects") and page.get("final_url"):
        moved = f", after {int(page['redirects'])} redirects to {_code(str(page['final_url']), d)}"
    if page.get("up"):
        seen = f"answers {page.get('status')} in {took}{moved} (checked {when})"
        advice = " If it was fixed, ask Pinterest to review the ad again."
    elif page.get("error"):
        seen = f"did not answer: {d.text(page['error'])} (checked {when})"
        advice = " Fix the page before the ad loses delivery."
    else:
        seen = f"answers {page.get('status')} in {took}{moved} (checked {when})"
        advice = " Fix the page before the ad loses delivery."
    return f"**Landing page:** {_code(str(page.get('url', '')), d)} {seen}.{advice}"


def _clock_line(event: Event) -> str | None:
    """What the review clock adds: how long an ad is stuck, or that it is rejected again."""
    if event.in_review_since is not None:
        return (
            f"**In review for:** {span_text(event.detected_at - event.in_review_since)}"
            f" (since {day_text(event.in_review_since)}). Pinterest says reviews take up to"
            " 24 hours: check the ad in Ads Manager, or ask Pinterest support about it."
        )
    if event.rejected_before_at is not None:
        return (
            f"**Rejected before:** {day_text(event.rejected_before_at)}, approved since:"
            " the fix did not hold, or Pinterest reviewed the ad again."
        )
    return None


def _accounts_phrase(events: Sequence[Event], names: Mapping[str, str], d: Dialect) -> str:
    accounts = list(dict.fromkeys(e.ad_account_id for e in events))
    if len(accounts) == 1:
        return d.title_text(_account(accounts[0], names))
    if len(accounts) == 2:
        return " and ".join(d.title_text(_account(a, names)) for a in accounts)
    return f"{len(accounts)} accounts"


def _digest_title(events: Sequence[Event], names: Mapping[str, str], d: Dialect) -> str:
    where = _accounts_phrase(events, names, d)
    kinds = {(outcome(e), e.entity) for e in events}
    if len(kinds) == 1 and len({e.ad_account_id for e in events}) == 1:
        ((what, entity),) = kinds
        return f"{what.count(entity, len(events))} in {where}"
    return f"🔔 {len(events)} changes in {where}"


def _summary(event: Event, d: Dialect) -> str:
    page = event.landing_page
    if event.change == "landing_page_down" and page:
        return d.text(page.get("error") or f"answers {page.get('status')}")
    if event.in_review_since is not None:
        return f"in review for {span_text(event.detected_at - event.in_review_since)}"
    if shows_reasons(event):
        why = "; ".join(escape_items(reasons(event), d.body)) or "no reason given"
        if page:
            seen = page.get("error") or f"answers {page.get('status')}"
            why += f"; the landing page {d.text(seen)} now"
        spent = spend_7d(event)
        if spent is not None:
            why += f"; {amount(spent, currency(event))} in 7 days"
        return why
    return "; ".join(line.removeprefix("- ") for line in _change_lines(event, d))


def _item(event: Event, d: Dialect) -> str:
    where = " › ".join(d.text(n) for n in (event.campaign_name, event.ad_group_name) if n)
    line = f"- {outcome(event).headline(event.entity)}: **{d.text(entity_name(event))}**"
    if where:
        line += f" ({where})"
    summary = _summary(event, d)
    if summary:
        line += f" — {summary}"
    return line + f" · [Ads Manager]({ads_manager_url(event)})"


def _digest_body(
    events: Sequence[Event], names: Mapping[str, str], max_items: int, d: Dialect
) -> str:
    shown = events[: max(max_items, 1)]
    accounts = list(dict.fromkeys(e.ad_account_id for e in shown))
    if len(accounts) == 1:
        lines = [f"**Account:** {d.text(_account(accounts[0], names))}", ""]
        lines += [_item(e, d) for e in shown]
    else:
        lines = []
        for account in accounts:
            lines += [f"**{d.text(_account(account, names))}**", ""]
            lines += [_item(e, d) for e in shown if e.ad_account_id == account]
            lines.append("")
        lines.pop()
    if len(events) > len(shown):
        lines += ["", f"…and {len(events) - len(shown)} more"]
    total = total_line(events)
    if total:
        lines += ["", f"**{total}**"]
    rejected = [e for e in shown if shows_reasons(e)]
    # Once per distinct reason, not per ad: twelve ads with a broken landing page need
    # the fix said once. Only the ads shown, so that fitting a channel's limit (fewer
    # items) shrinks this block too.
    codes = list(dict.fromkeys(c for e in rejected for c in reason_codes(e)))
    if codes:
        lines += ["", "**What to fix:**", *_fix_lines(codes, d)]
    if rejected:
        lines += ["", _next_step(d)]
    return "\n".join(lines)
