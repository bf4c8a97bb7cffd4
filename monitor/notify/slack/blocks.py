"""Slack Block Kit messages of the slack-bot target: pure, no I/O, no clock.

Three shapes, for the three moments of an ad's thread: the **root** (what broke, what it
costs, what to do, where to do it), a **reply** in its thread (a reminder, a later change)
and the root **resolved** (edited by the approval that ends the thread). Every piece of
text from Pinterest is escaped for native mrkdwn (:data:`MRKDWN`) and every text object
is ``verbatim`` (Slack links no URL, channel or mention by itself), so no ad name can
ping a channel or form a link. Each block is cut to Slack's limits (a section's text at
3,000 characters, a header at 150, at most 50 blocks); ``text`` is the notification's
fallback, shown on a locked phone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.events import Change, Event
from monitor.models import Kind
from monitor.render import entity_name, reason_codes, shows_reasons
from monitor.render.escape import Dialect, Markup, escape, escape_items
from monitor.render.fixes import GUIDELINES, NEXT_STEP, guidance
from monitor.render.ops import ops_body, ops_title
from monitor.render.spend import spend_line
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
    "MAX_BLOCKS",
    "MRKDWN",
    "SECTION_CHARS",
    "Post",
    "reply",
    "report",
    "resolved",
    "root",
]

#: What the slack-bot target's text is escaped for: native mrkdwn, title and body.
MRKDWN: Final = Dialect(body=Markup.MRKDWN, title=Markup.MRKDWN)
#: Slack's limits (Block Kit reference): a section's text, a header's, blocks a message.
SECTION_CHARS: Final = 3000
HEADER_CHARS: Final = 150
MAX_BLOCKS: Final = 50
#: The fallback ``text``: a notification shows a line or two of it.
TEXT_CHARS: Final = 300

#: What a rejection costs, said once in its root (Pinterest shows a rejected ad nowhere).
COST: Final = (
    "this ad is not delivering: no impressions and no clicks until it is fixed and approved again."
)

Block = dict[str, Any]

_PLAIN: Final = Dialect(body=Markup.PLAIN, title=Markup.PLAIN)

# pinmon's own CommonMark layout in a report's body (its text is escaped for mrkdwn
# already, where "*" and "](" cannot occur): bold, links and list items.
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_ITEM = re.compile(r"^- ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Post:
    """One message for ``chat.postMessage`` or ``chat.update``: fallback text and blocks."""

    text: str
    blocks: tuple[Block, ...]


def root(event: Event, names: Mapping[str, str], *, threaded: bool) -> Post:
    """The message that opens an ad's thread (``threaded``), or a message on its own.

    For a rejection: the ad and where it sits, why it was rejected, what to fix per
    reason, what it costs and the next step, then the links; for anything else, what
    changed.
    """
    d = MRKDWN
    title = f"{outcome(event).headline(event.entity)}: {entity_name(event)}"
    blocks: list[Block] = [_header(title), _section("\n".join(_where(event, names)))]
    if shows_reasons(event):
        blocks += _rejection(event)
        blocks.append(_section(f"*What it costs:* {COST}" + _spent(event, d)))
    for line in (_clock(event), _landing(event)):
        if line:
            blocks.append(_section(line))
    changes = _changes(event)
    if changes and not shows_reasons(event):
        blocks.append(_section("*What changed:*\n" + "\n".join(changes)))
    if shows_reasons(event):
        blocks.append(_section(f"*Next step:* {d.text(NEXT_STEP)}"))
    footer = [_links(event)]
    if threaded:
        footer.append("Reminders and later changes of this ad follow in this thread.")
    blocks.append(_context(footer))
    return Post(_fallback(title, _summary(event)), _fit(blocks))


def reply(event: Event, names: Mapping[str, str]) -> Post:
    """A reply in the ad's thread: what happened now, in a few lines, and the links."""
    del names  # the root says where the ad sits; a reply does not repeat it
    headline = outcome(event).headline(event.entity)
    lines = [f"*{escape(headline, Markup.MRKDWN)}*"]
    summary = _summary(event)
    if summary:
        lines.append(summary)
    spent = spend_line(event, MRKDWN.text)
    if spent and shows_reasons(event):
        lines.append(spent)
    blocks = [_section("\n".join(lines))]
    if shows_reasons(event) and event.change != Change.STILL_REJECTED:
        blocks += _rejection(event)  # new reasons: the fixes for them
    blocks.append(_context([_links(event)]))
    return Post(_fallback(f"{headline}: {entity_name(event)}", summary), _fit(blocks))


def resolved(event: Event, names: Mapping[str, str], *, opened_at: float) -> Post:
    """The root, edited by the approval that ends its thread: "✅ Resolved", since when
    and after how long, what it was rejected for."""
    title = f"✅ Resolved: {entity_name(event)}"
    took = span_text(max(0.0, event.detected_at - opened_at))
    lines = [
        f"*Approved* {day_text(event.detected_at)}, {took} after this alert: it can deliver again."
    ]
    before = _old_reasons(event)
    if before:
        lines.append("*It was rejected for:* " + "; ".join(before))
    blocks = [
        _header(title),
        _section("\n".join(lines)),
        _section("\n".join(_where(event, names))),
        _context([_links(event), "The story is in this thread."]),
    ]
    return Post(_fallback(title, "approved: it can deliver again"), _fit(blocks))


def report(event: Event) -> Post:
    """One of pinmon's reports about itself (``monitor.*``, a daily recap): its title as
    the header, its body's paragraphs as sections."""
    body = _mrkdwn(ops_body(event, MRKDWN))
    header = _plain_header(ops_title(event, _PLAIN))
    blocks = [header, *(_section(p) for p in body.split("\n\n") if p.strip())]
    fallback = ops_title(event, MRKDWN) + " — " + body.split("\n", 1)[0]
    return Post(_cut(fallback, TEXT_CHARS), _fit(blocks))


def _spent(event: Event, d: Dialect) -> str:
    """The money at risk (monitor.analytics' figures, or why there are none) on its own
    line, else empty."""
    line = spend_line(event, d.text)
    return f"\n{line}" if line else ""


def _mrkdwn(commonmark: str) -> str:
    """pinmon's own CommonMark markup as Slack's: **bold** → *bold*, [t](u) → <u|t>."""
    text = _BOLD.sub(r"*\1*", commonmark)
    text = _LINK.sub(lambda m: _link(m.group(2), m.group(1)), text)
    return _ITEM.sub("• ", text)


def _rejection(event: Event) -> list[Block]:
    d = MRKDWN
    why = escape_items(reasons(event), Markup.MRKDWN)
    blocks = [
        _section(
            "*Why it was rejected:*\n" + "\n".join(f"• {r}" for r in why)
            if why
            else "*Why it was rejected:* Pinterest gave no reason."
        )
    ]
    fixes = []
    for code in reason_codes(event):
        fix = guidance(code)
        policy = (
            _link(fix.policy, "Policy")
            if fix.policy is not None
            else f"{_link(GUIDELINES, 'Advertising guidelines')} (no page specific to this reason)"
        )
        fixes.append(
            f"• *{d.text(reason_text(code))}:* {d.text(fix.meaning)}"
            f" *Fix:* {d.text(fix.fix)} {policy}"
        )
    if fixes:
        blocks.append(_section("*What to fix:*\n" + "\n".join(fixes)))
    return blocks


def _where(event: Event, names: Mapping[str, str]) -> list[str]:
    d = MRKDWN
    account = names.get(event.ad_account_id) or event.ad_account_id
    lines = [f"*Account:* {d.text(account)}"]
    if event.entity != Kind.CAMPAIGN and (event.campaign_name or event.campaign_id):
        lines.append(f"*Campaign:* {d.text(event.campaign_name or event.campaign_id)}")
    if event.entity == Kind.AD and (event.ad_group_name or event.ad_group_id):
        lines.append(f"*Ad group:* {d.text(event.ad_group_name or event.ad_group_id)}")
    noun = event.entity.replace("_", " ").capitalize()
    lines.append(f"*{noun} ID:* {d.text(event.entity_id)}")
    return lines


def _changes(event: Event) -> list[str]:
    d = MRKDWN
    hide = shows_reasons(event)
    return [
        f"• {d.text(name)}: {d.text(value_text(c.old))} → {d.text(value_text(c.new))}"
        for name, c in event.changes.items()
        if not (hide and is_review_field(name))
    ]


def _summary(event: Event) -> str:
    """One line of what this event says, in mrkdwn."""
    if event.in_review_since is not None:
        return f"In review for {span_text(event.detected_at - event.in_review_since)}."
    if event.change == Change.LANDING_PAGE_DOWN and event.landing_page:
        page = event.landing_page
        said = page.get("error") or f"answers {page.get('status')}"
        return "The landing page " + MRKDWN.text(said)
    if shows_reasons(event):
        why = "; ".join(escape_items(reasons(event), Markup.MRKDWN)) or "no reason given"
        return f"Rejected for: {why}"
    return "; ".join(line.removeprefix("• ") for line in _changes(event))


def _clock(event: Event) -> str | None:
    if event.in_review_since is not None:
        return (
            f"*In review for:* {span_text(event.detected_at - event.in_review_since)}"
            f" (since {day_text(event.in_review_since)}). Pinterest says reviews take up to"
            " 24 hours: check the ad in Ads Manager, or ask Pinterest support about it."
        )
    if event.rejected_before_at is not None:
        return (
            f"*Rejected before:* {day_text(event.rejected_before_at)}, approved since:"
            " the fix did not hold, or Pinterest reviewed the ad again."
        )
    return None


def _landing(event: Event) -> str | None:
    page = event.landing_page
    if not page:
        return None
    d = MRKDWN
    seen = d.text(page.get("error")) if page.get("error") else f"answers {page.get('status')}"
    when = day_text(float(page.get("checked_at") or event.detected_at))
    return f"*Landing page:* {d.text(page.get('url', ''))} {seen} (checked {when})."


def _old_reasons(event: Event) -> list[str]:
    """What an approved ad was rejected for, from the approval's own changes."""
    for name in ("rejection_labels", "rejected_reasons"):
        moved = event.changes.get(name)
        if moved is not None and isinstance(moved.old, list) and moved.old:
            shown = moved.old
            if name == "rejected_reasons":
                shown = [reason_text(str(c)) for c in moved.old]
            return escape_items(shown, Markup.MRKDWN)
    return []


def _links(event: Event) -> str:
    links = [_link(ads_manager_url(event), "Open in Ads Manager")]
    if event.entity == Kind.AD and event.pin_id:
        links.append(_link(pin_url(event.pin_id), "View the Pin"))
    return " · ".join(links)


def _link(url: str, label: str) -> str:
    """``<url|label>``: a URL built by pinmon, its ids quoted so that none can end it."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{label}>"


def _fallback(title: str, summary: str) -> str:
    """The notification's text: the title and the gist, plain (entities escaped)."""
    line = escape(title, Markup.MRKDWN) + (f" — {summary}" if summary else "")
    return _cut(line, TEXT_CHARS)


def _header(text: str) -> Block:
    # plain_text reads no markup; PLAIN still breaks "<!" and "@", whatever shows it.
    return _plain_header(escape(text, Markup.PLAIN))


def _plain_header(escaped: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(escaped, HEADER_CHARS)}}


def _section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _cut(text, SECTION_CHARS), "verbatim": True},
    }


def _context(parts: Sequence[str]) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": _cut(p, SECTION_CHARS), "verbatim": True} for p in parts[:10]
        ],
    }


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, never ending inside an entity or a link."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # An entity ("&amp;") or a link ("<url|label>") cut in half would show as garbage.
    amp, lt = cut.rfind("&"), cut.rfind("<")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if lt > cut.rfind(">"):
        cut = cut[:lt]
    return cut.rstrip() + "…"


def _fit(blocks: list[Block]) -> tuple[Block, ...]:
    """At most :data:`MAX_BLOCKS` blocks: the last one (the links, the advice) kept."""
    if len(blocks) <= MAX_BLOCKS:
        return tuple(blocks)
    return (*blocks[: MAX_BLOCKS - 1], blocks[-1])
