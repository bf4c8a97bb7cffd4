"""Per-route message templates: ``string.Template`` over documented variables, pure.

``string.Template`` rather than Jinja2: a config file should not be able to run code,
and ``$name`` / ``${reasons}`` is all an alert needs. Unknown variables are rejected when
the config is loaded, not at 3 a.m. when the first rejection arrives. Values from
Pinterest are escaped for the target's markup (:mod:`monitor.render.escape`) before they
are substituted; the template's own text is the operator's and stays as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from string import Template
from typing import Final

from monitor.events import Event
from monitor.render.escape import MARKDOWN, Dialect, Markup, escape, escape_items
from monitor.render.fixes import guidance
from monitor.render.spend import count, currency, spend_line
from monitor.render.words import (
    ads_manager_url,
    outcome,
    pin_url,
    reason_text,
    reasons,
    span_text,
    value_text,
)

#: Every variable a template may use, with what it holds (the README lists these).
VARIABLES: Final[Mapping[str, str]] = {
    "type": "the event type, e.g. ad.rejected",
    "what": "what happened, e.g. 🚫 Ad rejected",
    "name": "the ad's (campaign's, ad group's) name",
    "id": "the entity id",
    "event_id": "the event id (stable across redeliveries)",
    "account": "the ad account's name, else its id",
    "account_id": "the ad account id",
    "campaign": "the campaign's name, else its id",
    "campaign_id": "the campaign id",
    "ad_group": "the ad group's name, else its id",
    "ad_group_id": "the ad group id",
    "reasons": "rejection reasons in words, comma-separated",
    "fix": "per rejection reason, the usual fix, e.g. Landing page broken: Check the ...",
    "policy_link": "Pinterest's policy page(s) for the reasons (the advertising guidelines"
    " where no specific page is known), space-separated",
    "changes": "the changes, e.g. review_status: APPROVED → REJECTED",
    "status": "status now",
    "review_status": "review_status now",
    "summary_status": "summary_status now",
    "link": "the Ads Manager link",
    "pin_link": "the Pin's public page",
    "detected_at": "when the change was seen (UTC, ISO 8601)",
    "count": "how many events this message reports (digests)",
    "in_review_for": "how long the ad has been in review, e.g. 26 h (ad.review_stuck), else empty",
    "landing_page": "what the landing-page check saw, e.g. https://… answers 404, else empty",
    "spend": "the money-at-risk line, e.g. Spend last 7 days: 1,234.56 USD · … (or why the"
    " figures are unavailable), else empty",
    "spend_7d": "the ad's spend over the last 7 days, e.g. 1,234.56, else empty",
    "daily_spend": "its average daily spend (spend_7d / 7), e.g. 176.37, else empty",
    "currency": "the ad account's currency of those figures, e.g. USD, else empty",
    "impressions_7d": "its paid impressions over the last 7 days, e.g. 12,345, else empty",
    "clicks_7d": "its paid clicks over the last 7 days, e.g. 321, else empty",
}


def check_template(text: str) -> str | None:
    """Why a template is unusable (a syntax error or an unknown variable), else None."""
    try:
        names = Template(text).get_identifiers()
    except ValueError as exc:
        return f"invalid template: {exc}"
    if not Template(text).is_valid():
        return "invalid template: a '$' must start a variable ($name) or be written $$"
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        return f"unknown variable ${unknown[0]} (known: {', '.join(sorted(VARIABLES))})"
    return None


def variables(
    event: Event,
    *,
    account_names: Mapping[str, str],
    count: int = 1,
    markup: Markup = Markup.PLAIN,
) -> dict[str, str]:
    """The template variables of one event, text from Pinterest escaped for ``markup``."""
    state = event.state
    codes = [str(x) for x in state.get("rejected_reasons") or () if str(x).strip()]

    def text(value: object) -> str:
        return escape(value, markup)

    return {
        "type": event.type,
        "what": outcome(event).headline(event.entity) if not event.is_report else event.type,
        "name": text(event.name or ""),
        "id": text(event.entity_id),
        "event_id": event.id,
        "account": text(account_names.get(event.ad_account_id) or event.ad_account_id),
        "account_id": text(event.ad_account_id),
        "campaign": text(event.campaign_name or event.campaign_id or ""),
        "campaign_id": text(event.campaign_id or ""),
        "ad_group": text(event.ad_group_name or event.ad_group_id or ""),
        "ad_group_id": text(event.ad_group_id or ""),
        "reasons": ", ".join(escape_items(reasons(event), markup)),
        "fix": "; ".join(f"{text(reason_text(c))}: {text(guidance(c).fix)}" for c in codes),
        # Our own constant URLs, not text to escape.
        "policy_link": " ".join(dict.fromkeys(guidance(c).policy_link for c in codes))
        if codes
        else "",
        "changes": "; ".join(
            f"{text(k)}: {text(value_text(c.old))} → {text(value_text(c.new))}"
            for k, c in event.changes.items()
        ),
        "status": text(state.get("status") or ""),
        "review_status": text(state.get("review_status") or ""),
        "summary_status": text(state.get("summary_status") or ""),
        # Built here from quoted ids: a URL, not text to escape.
        "link": ads_manager_url(event) if not event.is_report else "",
        "pin_link": pin_url(event.pin_id) if event.pin_id else "",
        "detected_at": datetime.fromtimestamp(event.detected_at, UTC).isoformat(timespec="seconds"),
        "count": str(count),
        "in_review_for": span_text(event.detected_at - event.in_review_since)
        if event.in_review_since is not None
        else "",
        "landing_page": _landing(event, text),
        **_spend(event, text),
    }


def _spend(event: Event, text: Callable[[object], str]) -> dict[str, str]:
    spend = event.spend or {}

    def number(key: str, money: bool) -> str:
        value = spend.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ""
        return f"{value:,.2f}" if money else count(value)

    return {
        "spend": text(spend_line(event) or ""),
        "spend_7d": number("spend_7d", True),
        "daily_spend": number("daily_spend", True),
        "currency": currency(event) or "",
        "impressions_7d": number("impressions_7d", False),
        "clicks_7d": number("clicks_7d", False),
    }


def _landing(event: Event, text: Callable[[object], str]) -> str:
    page = event.landing_page
    if not page:
        return ""
    seen = (
        f"did not answer: {page['error']}" if page.get("error") else f"answers {page.get('status')}"
    )
    return str(text(f"{page.get('url', '')} {seen}"))


def apply(
    title: str | None,
    body: str | None,
    events: Sequence[Event],
    *,
    account_names: Mapping[str, str],
    default_title: str,
    default_body: str,
    dialect: Dialect = MARKDOWN,
) -> tuple[str, str]:
    """A route's title and body for these events; a part it leaves out keeps the default.

    A digest's title uses its first (most severe) event plus ``$count``; its body is the
    body template once per event, separated by blank lines. Title variables are escaped
    for ``dialect.title``, body variables for ``dialect.body``.
    """
    count = len(events)
    first = variables(events[0], account_names=account_names, count=count, markup=dialect.title)
    out_title = Template(title).safe_substitute(first) if title is not None else default_title
    if body is None:
        return out_title, default_body
    parts = [
        Template(body).safe_substitute(
            variables(e, account_names=account_names, count=count, markup=dialect.body)
        )
        for e in events
    ]
    return out_title, "\n\n".join(parts)
