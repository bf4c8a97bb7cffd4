"""Messages for ``monitor.*`` events: pinmon's reports about its own health.

Their facts can quote others (an error Pinterest answered, a target's refusal), so they
are escaped for the target like any text from Pinterest.
"""

from __future__ import annotations

from typing import Final

from monitor.events import Event
from monitor.render.escape import Dialect
from monitor.render.message import Level
from monitor.render.recap import recap_body, recap_title

_TITLES: Final = {
    "auth_failed": "🔑 pinmon cannot authenticate with Pinterest",
    "rate_limited": "🐢 pinmon is rate limited by Pinterest",
    "account_failing": "⚠️ pinmon cannot poll ad account {account}",
    "account_recovered": "✅ pinmon polls ad account {account} again",
    "account_access_lost": "⛔ pinmon lost access to ad account {account}",
    "target_disabled": "📭 pinmon disabled a notification target",
    "state_lost": "🗃️ pinmon's state file was changed under it",
    "delivery_dead": "📪 pinmon gave up delivering to a notification target",
}
_ADVICE: Final = {
    "auth_failed": "Polling is paused and retried with backoff. Check the token or refresh "
    "token in the config; `pinmon check -c CONFIG` tests it.",
    "rate_limited": "Polling of this token waits for the quota to reset.",
    "account_failing": "Its changes are not being watched until it recovers; nothing is "
    "reported as removed meanwhile.",
    "account_recovered": "Changes made while it was failing are reported now.",
    "account_access_lost": "The token's user no longer has access to this account "
    "(Pinterest answered 403). Restore access or remove it from the config.",
    "target_disabled": "The target refused for good (410 Gone, or a revoked token or a "
    "channel it cannot post in: the reason above); its pending deliveries stopped. "
    "Fix the route, then `pinmon redeliver --failed`.",
    "delivery_dead": "These alerts will not reach that target: its retries ran out or it "
    "refused them. Fix the target, then `pinmon redeliver --failed`; `pinmon deliveries` "
    "lists them.",
    "state_lost": "If it was restored, nothing was lost; find out what removed it. If not, "
    "changes since the last cycle may have been missed: the next cycle reports every ad "
    "rejected or long in review now.",
}
_LEVELS: Final[dict[str, Level]] = {
    "account_recovered": "success",
    "rate_limited": "warning",
    "recap": "info",
}


def ops_level(event: Event) -> Level:
    """``failure`` for most self-reports; recovery is good news."""
    return _LEVELS.get(event.change, "failure")


def ops_title(event: Event, dialect: Dialect) -> str:
    """One line saying what went wrong."""
    if event.change == "recap":
        return recap_title(event, dialect)
    template = _TITLES.get(event.change, "pinmon: {change}")
    return template.format(
        account=dialect.title_text(event.ad_account_id or event.entity_id),
        change=dialect.title_text(event.change),
    )


def ops_body(event: Event, dialect: Dialect) -> str:
    """The facts, then what it means and what to do."""
    if event.change == "recap":
        return recap_body(event, dialect)
    lines = [
        f"- **{key.replace('_', ' ').capitalize()}:** {dialect.text(value)}"
        for key, value in event.state.items()
    ]
    advice = _ADVICE.get(event.change)
    return "\n".join(lines) + (f"\n\n{advice}" if advice else "")
