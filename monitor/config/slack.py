"""The ``slack-bot`` targets of a route: a bot token, a channel and Slack's API address."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final
from urllib.parse import urlsplit

from monitor.config.types import Secret, SlackBotTarget

#: Slack's Web API; ``base_url`` changes it (GovSlack, or a local fake in tests).
SLACK_API: Final = "https://slack.com/api/"

_KEYS: Final = frozenset({"token", "channel", "base_url"})
# A channel id (public C..., private G..., a DM D...) or a #name (lowercase, <= 80).
_CHANNEL = re.compile(r"^(?:[CGD][A-Z0-9]{6,20}|#[a-z0-9][a-z0-9._-]{0,79})$")
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_slack_bots(value: Any) -> tuple[SlackBotTarget, ...]:
    """``slack-bot = [{ token = "${SLACK_BOT_TOKEN}", channel = "C0123456789" }]``.

    Raises:
        TypeError, ValueError: what is wrong, naming the item and key; never the token.
    """
    items = value if isinstance(value, list) else [value]
    targets = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"item {i} must be a table {{ token = ..., channel = ... }}")
        unknown = set(item) - _KEYS
        if unknown:
            first = sorted(unknown)[0]
            raise ValueError(f"item {i}: unknown key {first!r} (token, channel, base_url)")
        token = item.get("token")
        if not isinstance(token, str) or not token.startswith("xoxb-") or len(token) < 16:
            raise ValueError(
                f'item {i}: token: a bot token "xoxb-..." is needed, e.g. "${{SLACK_BOT_TOKEN}}"'
            )
        channel = item.get("channel")
        if not isinstance(channel, str) or not _CHANNEL.match(channel.strip()):
            raise ValueError(
                f"item {i}: channel: a channel id such as 'C0123456789' or a name such as"
                " '#ads-alerts'"
            )
        targets.append(
            SlackBotTarget(Secret(token), channel.strip(), _base_url(item.get("base_url"), i))
        )
    return tuple(targets)


def _base_url(value: Any, i: int) -> str:
    if value is None:
        return SLACK_API
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"item {i}: base_url: expected a URL such as {SLACK_API!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"item {i}: base_url: expected an https:// URL such as {SLACK_API!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        # The bot token travels in every request's header: never in the clear.
        raise ValueError(f"item {i}: base_url: use https:// (plain http only to loopback)")
    return value.strip().rstrip("/") + "/"


def slack_key(channel: str, base_url: str) -> str:
    """The target's outbox key: by channel and API, not token, so that a rotated token
    keeps the queue and the threads. Never secret."""
    return "slack-bot:" + hashlib.sha256(f"{base_url}\0{channel}".encode()).hexdigest()[:16]


def slack_label(channel: str, base_url: str) -> str:
    """The target's label: its channel, and Slack's address when it is not the usual one."""
    from monitor.redact import mask_url

    # A base_url may carry a password or a token in its query: masked like any URL.
    where = "" if base_url == SLACK_API else f" via {mask_url(base_url.rstrip('/'))}"
    return f"slack-bot:{channel}{where}"
